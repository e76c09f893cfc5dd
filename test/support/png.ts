/**
 * Reads the pixels of a PNG (RFC 2083 / ISO 15948), just enough for the
 * screenshots Chromium writes: 8 bits per channel, RGB or RGBA, not
 * interlaced. Anything else is refused with the reason.
 */
import { inflateSync } from 'node:zlib';

export interface Png {
  readonly width: number;
  readonly height: number;
  /** 3 (RGB) or 4 (RGBA). */
  readonly channels: number;
  /** The pixel at (x, y) as 0xRRGGBB (alpha ignored). */
  rgb(x: number, y: number): number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function readPng(file: Buffer): Png {
  if (file.length < 8 || !file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG: bad signature');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= file.length; ) {
    const len = file.readUInt32BE(o);
    const type = file.toString('latin1', o + 4, o + 8);
    const data = file.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error(`PNG not supported here: bit depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    o += 12 + len;
  }
  if (!channels || idat.length === 0) throw new Error('not a PNG: no IHDR or no IDAT');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error(`PNG data is ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[out + i - channels]! : 0;
      const b = y > 0 ? px[out - stride + i]! : 0;
      const c = i >= channels && y > 0 ? px[out - stride + i - channels]! : 0;
      let v = line[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`PNG row ${y}: unknown filter ${filter}`);
      px[out + i] = v & 0xff;
    }
  }
  return {
    width,
    height,
    channels,
    rgb(x, y) {
      const i = y * stride + x * channels;
      return (px[i]! << 16) | (px[i + 1]! << 8) | px[i + 2]!;
    },
  };
}

/** How many pixels have each colour, most frequent first. */
export function colourHistogram(png: Png): [number, number][] {
  const counts = new Map<number, number>();
  for (let y = 0; y < png.height; y++) for (let x = 0; x < png.width; x++) {
    const c = png.rgb(x, y);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return [...counts].sort((p, q) => q[1] - p[1]);
}
