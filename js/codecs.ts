// Binary payloads of the widget's synced state, decoded for the view.
// Maps travel as PNG bytes (a DataView on the JS side), never as JSON number lists.

/** An object URL showing PNG bytes; the caller revokes the previous one. */
export function pngUrl(bytes: DataView | null | undefined): string | null {
  if (!bytes || bytes.byteLength === 0) return null;
  // A copy: Blob wants bytes that cannot be a SharedArrayBuffer view.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return URL.createObjectURL(new Blob([copy], { type: "image/png" }));
}
