/**
 * The line of a tool's output an error message quotes: the first line matching `prefer`, or
 * the first non-empty one; trimmed and at most 300 characters, so the message stays one line.
 */
export function firstLine(text: unknown, prefer?: RegExp): string {
  const lines = String(text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return ((prefer && lines.find((l) => prefer.test(l))) ?? lines[0] ?? '').slice(0, 300);
}
