import { extname } from "node:path";

/**
 * Extensions of the image files an image task is made of: the ones the
 * image templates list (Pillow reads them all), so perception, the program
 * and the analyzer count the same files.
 */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  ".png",
  ".jpg",
  ".jpeg",
  ".bmp",
  ".gif",
  ".tif",
  ".tiff",
  ".webp",
  ".ppm",
  ".pgm",
]);

/** Whether a path names an image file by its extension. */
export function isImageFile(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}
