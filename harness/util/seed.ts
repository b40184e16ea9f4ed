/** The seed of a run that was given none: a whole number below 2^31, shown in its repeat line. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
