// Binary payloads of the widget's synced state, decoded for the view.
// Pictures travel as encoded bytes (a DataView on the JS side), never as JSON number lists.

/** An object URL showing encoded picture bytes (PNG unless told); the caller revokes it. */
export function imageUrl(
  bytes: DataView | null | undefined,
  mime = "image/png",
): string | null {
  if (!bytes || bytes.byteLength === 0) return null;
  // A copy: Blob wants bytes that cannot be a SharedArrayBuffer view.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return URL.createObjectURL(new Blob([copy], { type: mime }));
}
