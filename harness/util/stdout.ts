/**
 * Resolves once stdout has taken everything written so far. To a pipe stdout is asynchronous,
 * and process.exit drops what is still queued: a --json summary with its settle readings is
 * hundreds of KB, more than a pipe holds. Every command that prints a document awaits this
 * before it exits.
 */
export function stdoutFlushed(): Promise<void> {
  return new Promise((resolve) => process.stdout.write('', () => resolve()));
}
