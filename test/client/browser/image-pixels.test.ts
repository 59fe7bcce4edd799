import { describe, expect, it } from 'vitest';
import { imageFeatures, labelFromPath } from '../../../client/browser/image-pixels.js';

/** A w x h RGBA image: `ink` inside the centre pixel(s), `paper` elsewhere. */
function image(
  w: number,
  h: number,
  paper: number[],
  ink: number[],
  inkAt: (x: number, y: number) => boolean,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set(inkAt(x, y) ? ink : paper, (y * w + x) * 4);
  return out;
}
const centre = (x: number, y: number) => x === 1 && y === 1;
const rounded = (f: Float32Array) => Array.from(f, (v) => Math.round(v * 1000) / 1000);

describe('labelFromPath', () => {
  it('takes a numeric folder name first, then leading digits of the file name', () => {
    expect(labelFromPath('digits/7/a.png')).toBe(7);
    expect(labelFromPath('7/3_a.png')).toBe(7);
    expect(labelFromPath('3_a.png')).toBe(3);
    expect(labelFromPath('12-b.jpg')).toBe(12);
    expect(labelFromPath('5.png')).toBe(5);
    expect(labelFromPath('cats/a.png')).toBeUndefined();
    expect(labelFromPath('img7.png')).toBeUndefined();
    expect(labelFromPath('7a.png')).toBeUndefined();
  });
});

describe('imageFeatures', () => {
  it('keeps light ink on a dark background and scales to [0, 1]', () => {
    const f = imageFeatures(image(3, 3, [0, 0, 0, 255], [255, 255, 255, 255], centre), 3, 3, 1);
    expect(rounded(f)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('inverts dark ink on light paper, MNIST style', () => {
    const f = imageFeatures(image(3, 3, [255, 255, 255, 255], [0, 0, 0, 255], centre), 3, 3, 1);
    expect(rounded(f)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('treats transparent pixels as paper', () => {
    const f = imageFeatures(image(3, 3, [0, 0, 0, 0], [0, 0, 0, 255], centre), 3, 3, 1);
    expect(rounded(f)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('gives three channels per pixel for RGB tasks', () => {
    const f = imageFeatures(image(3, 3, [0, 0, 0, 255], [255, 0, 51, 255], centre), 3, 3, 3);
    expect(f.length).toBe(27);
    expect(rounded(f.subarray(12, 15))).toEqual([1, 0, 0.2]);
  });

  it('refuses a pixel buffer of the wrong size', () => {
    expect(() => imageFeatures(new Uint8ClampedArray(10), 3, 3, 1)).toThrow(/expected 36 RGBA bytes, got 10/);
  });
});
