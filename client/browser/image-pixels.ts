/**
 * Turning picked image files into examples, the pure part: labels from file paths, and RGBA
 * pixels (already scaled to the task's height x width) into features in [0, 1].
 */

/**
 * The class of an image file: its folder's name when that is a number (7/a.png, as a picked
 * folder gives), else the digits its name starts with (7_a.png, 7-a.png, 7.png).
 */
export function labelFromPath(path: string): number | undefined {
  const parts = path.split('/');
  const folder = parts.length > 1 ? parts[parts.length - 2] : '';
  if (/^\d+$/.test(folder)) return Number(folder);
  const m = /^(\d+)(?:[_\-. ]|$)/.exec(parts[parts.length - 1]);
  return m ? Number(m[1]) : undefined;
}

/**
 * Features of one image: `channels` 1 (grey) or 3 (RGB) per pixel, scaled to [0, 1]. Images
 * whose border is mostly light (dark ink on paper) are inverted to match digits drawn light on
 * dark, as MNIST is; transparent pixels count as background.
 */
export function imageFeatures(rgba: Uint8ClampedArray, width: number, height: number, channels: 1 | 3): Float32Array {
  if (rgba.length !== width * height * 4)
    throw new Error(`expected ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  const px = width * height;
  const values = new Float32Array(px * 3);
  for (let i = 0; i < px; i++) {
    const alpha = rgba[i * 4 + 3] / 255;
    // Composite onto white, the colour a transparent background shows as on screen.
    for (let c = 0; c < 3; c++) values[i * 3 + c] = (rgba[i * 4 + c] / 255) * alpha + (1 - alpha);
  }
  let border = 0;
  let borderCount = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y !== 0 && y !== height - 1 && x !== 0 && x !== width - 1) continue;
      const i = y * width + x;
      border += (values[i * 3] + values[i * 3 + 1] + values[i * 3 + 2]) / 3;
      borderCount++;
    }
  }
  const invert = border / borderCount > 0.5;
  const out = new Float32Array(px * channels);
  for (let i = 0; i < px; i++) {
    if (channels === 1) {
      const grey = 0.299 * values[i * 3] + 0.587 * values[i * 3 + 1] + 0.114 * values[i * 3 + 2];
      out[i] = invert ? 1 - grey : grey;
    } else {
      for (let c = 0; c < 3; c++) out[i * 3 + c] = invert ? 1 - values[i * 3 + c] : values[i * 3 + c];
    }
  }
  return out;
}
