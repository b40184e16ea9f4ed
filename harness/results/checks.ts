/** A scenario's checks as summary.json keeps them, and the tolerances they applied. */

/** One check that ran: its name, whether it passed, and the sentence a user reads. */
export interface Check {
  name: string;
  ok: boolean;
  message: string;
}

/** A bound a correct kernel stays within, bytes, and the mechanism that explains it. */
export interface Tolerance {
  bytes: number;
  why: string;
}
