// Types for the parts of the npm package iso_8583 (a dev dependency, the interop peer) that tests use.
declare module 'iso_8583' {
  type IsoJson = Record<string, string>;
  class Iso8583 {
    constructor(data?: IsoJson, customFormats?: Record<string, unknown>);
    getBufferMessage(): Buffer | { error: string };
    getRawMessage(): Buffer | { error: string };
    getIsoJSON(buffer: Buffer, config?: { lenHeader?: boolean; bitmapEncoding?: string }): IsoJson | { error: string };
    validateMessage(): boolean | { error: string };
  }
  export default Iso8583;
}
declare module 'iso_8583/lib/formats.js' {
  const formats: Record<string, { ContentType: string; LenType: string; MaxLen: number; MinLen?: number; Label: string }>;
  export default formats;
}
