// Buffer's fast Latin-1 slice/write exist on every Node.js Buffer but are not in @types/node.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    latin1Write(string: string, offset: number, length?: number): number;
  }
}
export {};
