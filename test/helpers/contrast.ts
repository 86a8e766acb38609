/**
 * Text contrast as the browser renders it (WCAG 2 contrast ratio): every visible piece of text
 * on a page against the background it is drawn on, the page's own colours composited up to the
 * root. For browser tests: `lowContrastText(page, 4.5)` lists what falls short of AA.
 */
import type { Page } from 'playwright-core';

export interface LowContrast {
  text: string;
  color: string;
  background: string;
  ratio: number;
}

/** Text on `page` whose contrast ratio with its background is below `minimum`. */
export function lowContrastText(page: Page, minimum: number): Promise<LowContrast[]> {
  // Runs in the page: self-contained.
  return page.evaluate((least) => {
    type Rgba = [number, number, number, number];
    const parse = (css: string): Rgba => {
      const match = /rgba?\(([^)]*)\)/.exec(css);
      if (match === null) throw new Error(`unexpected colour ${css}`);
      const parts = match[1].split(/[\s,/]+/).filter((part) => part !== '').map(Number);
      return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
    };
    /** `top` drawn over the opaque `bottom`. */
    const over = (top: Rgba, bottom: Rgba): Rgba => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1) as Rgba;
    const luminance = ([r, g, b]: Rgba): number => {
      const channel = (value: number): number => {
        const c = value / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (a: Rgba, b: Rgba): number => {
      const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (light + 0.05) / (dark + 0.05);
    };
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const canvas: Rgba = dark ? [18, 18, 18, 1] : [255, 255, 255, 1];
    const backgroundOf = (element: Element): Rgba => {
      const chain: Element[] = [];
      for (let at: Element | null = element; at !== null; at = at.parentElement) chain.unshift(at);
      return chain.reduce((below, at) => over(parse(getComputedStyle(at).backgroundColor), below), canvas);
    };
    const found: Array<{ text: string; color: string; background: string; ratio: number }> = [];
    for (const element of Array.from(document.body.querySelectorAll('*'))) {
      if (element.closest('select, script, style, [aria-hidden="true"]') !== null) continue;
      const ownText = Array.from(element.childNodes).filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent ?? '').join('').trim();
      if (ownText === '') continue;
      const box = element.getBoundingClientRect();
      if (box.width <= 1 || box.height <= 1) continue; // not shown, or visually hidden
      const background = backgroundOf(element);
      const color = over(parse(getComputedStyle(element).color), background);
      const contrast = ratio(color, background);
      if (contrast < least) {
        found.push({ text: ownText.slice(0, 60), color: `rgb(${color.slice(0, 3).map(Math.round).join(', ')})`, background: `rgb(${background.slice(0, 3).map(Math.round).join(', ')})`, ratio: Math.round(contrast * 100) / 100 });
      }
    }
    return found;
  }, minimum);
}
