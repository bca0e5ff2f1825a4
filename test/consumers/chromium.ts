/**
 * Debian's headless Chromium, driven by puppeteer-core, for tests that open a page kpfleet wrote
 * (the status page): launch once, open a file by file:// URL with every other request refused
 * and recorded, collect console errors and page errors, close. Never downloads a browser: a
 * machine without /usr/bin/chromium fails the test, naming the Debian package to install.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface Viewport {
  width: number;
  height: number;
}

/** A page opened from a file, and what it did while it was open. */
export interface OpenedPage {
  page: Page;
  url: string;
  /** console.error messages (CSP violations land here) and uncaught exceptions. */
  consoleErrors: string[];
  pageErrors: string[];
  /** Every request other than the file itself: refused, and recorded for the test to fail on. */
  otherRequests: string[];
  /** From navigation start to the page's `load` event, in ms. */
  loadMs: number;
  /** Evaluates an expression in the page (a string: the test code has no DOM types). */
  eval<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

export interface Chromium {
  open(file: string, viewport?: Viewport, ready?: string): Promise<OpenedPage>;
  close(): Promise<void>;
}

/** Launches Debian's chromium headless; throws, naming the package, when it is not installed. */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install Debian's package "chromium" (apt-get install chromium)`,
    );
  }
  const args = ['--no-first-run', '--disable-gpu', '--disable-dev-shm-usage'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser: Browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args,
  });
  return {
    open: (file, viewport = { width: 1280, height: 800 }, ready) =>
      openFile(browser, file, viewport, ready),
    close: () => browser.close(),
  };
}

async function openFile(
  browser: Browser,
  file: string,
  viewport: Viewport,
  ready?: string,
): Promise<OpenedPage> {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const url = pathToFileURL(file).href;
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const otherRequests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    if (r.url() === url || r.url().startsWith(`${url}#`)) {
      void r.continue();
      return;
    }
    otherRequests.push(r.url());
    void r.abort();
  });
  const start = performance.now();
  await page.goto(url, { waitUntil: 'load' });
  if (ready !== undefined) await page.waitForSelector(ready, { timeout: 30_000 });
  const loadMs = performance.now() - start;
  return {
    page,
    url,
    consoleErrors,
    pageErrors,
    otherRequests,
    loadMs,
    eval: <T>(expression: string) => page.evaluate(expression) as Promise<T>,
    close: () => page.close(),
  };
}
