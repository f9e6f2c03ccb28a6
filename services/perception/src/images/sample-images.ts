import { InvalidInputError } from "@mlzero/errors";
import type { InferenceLog } from "../inference-log.js";
import type { FolderFile } from "../walk-folder.js";
import { readImageHeader, type ImageHeader } from "./image-header.js";

/** Image files whose headers are read: enough to see formats, sizes and modes, quick on any folder. */
export const SAMPLED_IMAGES = 24;

/** What a sample of an image task's files holds. */
export interface ImageSample {
  sampled: number;
  formats: string[];
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
  channels: number[];
}

const CHANNEL_NAMES: Record<number, string> = { 1: "gray", 2: "gray+alpha", 3: "colour", 4: "colour+alpha" };

/**
 * Reads the headers of a spread of the files (`groups` in turn, e.g. one per
 * class, then the test files) and records their formats, sizes and channels.
 * A file that is no image is recorded (the programs skip such files); a
 * sample with no image at all is bad input.
 */
export async function sampleImages(groups: readonly (readonly FolderFile[])[], log: InferenceLog): Promise<ImageSample> {
  const chosen = spread(groups, SAMPLED_IMAGES);
  const headers: ImageHeader[] = [];
  const broken: string[] = [];
  for (const file of chosen) {
    const header = await readImageHeader(file.absolutePath);
    if (header === undefined) broken.push(file.path);
    else headers.push(header);
  }
  if (headers.length === 0) {
    throw new InvalidInputError(
      `none of the ${chosen.length} image files sampled (e.g. ${chosen[0]?.path ?? "none"}) is a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM image`,
    );
  }
  if (broken.length > 0) {
    log.add(
      "images.unreadable",
      broken.join(","),
      `${broken.length} of ${chosen.length} sampled files are not images the header reader knows; programs skip such files`,
    );
  }
  const counts = (values: readonly (string | number)[]) => {
    const found = new Map<string | number, number>();
    for (const value of values) found.set(value, (found.get(value) ?? 0) + 1);
    return [...found].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
  };
  const formats = counts(headers.map((header) => header.format));
  const channels = counts(headers.map((header) => header.channels));
  const widths = headers.map((header) => header.width);
  const heights = headers.map((header) => header.height);
  const sample: ImageSample = {
    sampled: headers.length,
    formats: formats.map(([format]) => String(format)),
    minWidth: Math.min(...widths),
    maxWidth: Math.max(...widths),
    minHeight: Math.min(...heights),
    maxHeight: Math.max(...heights),
    channels: channels.map(([count]) => Number(count)).sort((a, b) => a - b),
  };
  const of = `of ${headers.length} sampled images`;
  log.add("images.formats", sample.formats.join(","), `headers ${of}: ${formats.map(([name, n]) => `${name} ${n}`).join(", ")}`);
  const size = (low: number, high: number) => (low === high ? String(low) : `${low}-${high}`);
  log.add(
    "images.size",
    `${size(sample.minWidth, sample.maxWidth)}x${size(sample.minHeight, sample.maxHeight)}`,
    `width x height in pixels ${of}${sample.minWidth === sample.maxWidth && sample.minHeight === sample.maxHeight ? ", all the same" : "; programs resize them to one size"}`,
  );
  log.add(
    "images.channels",
    sample.channels.join(","),
    `${of}: ${channels.map(([count, n]) => `${CHANNEL_NAMES[Number(count)] ?? `${count} channels`} ${n}`).join(", ")}`,
  );
  return sample;
}

/** Up to `limit` files taken from the groups in turn, each group in its own order, so every class is seen. */
function spread(groups: readonly (readonly FolderFile[])[], limit: number): FolderFile[] {
  const chosen: FolderFile[] = [];
  for (let index = 0; chosen.length < limit; index++) {
    const round = groups.map((group) => group[index]).filter((file): file is FolderFile => file !== undefined);
    if (round.length === 0) break;
    chosen.push(...round.slice(0, limit - chosen.length));
  }
  return chosen;
}
