// Drives a real Chromium for Kluis' end-to-end tests (tests/e2e/support/chromium.rs).
//
// It launches Debian's Chromium headless through playwright-core, prints {"ready": true},
// then answers newline-delimited JSON commands on stdin with exactly one JSON line each on
// stdout: {"ok": true, ...result} or {"ok": false, "error": "..."}. Only replies go to
// stdout; anything else goes to stderr. It exits when stdin closes or on {"cmd": "close"}.

import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';

// Playwright and its helpers must never write to stdout: it carries the replies.
console.log = console.error;
console.info = console.error;
process.stdout.on('error', () => process.exit(0));

const DEFAULT_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const ACTION_TIMEOUT_MS = 10_000;
const NAVIGATION_TIMEOUT_MS = 20_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
});
function onDisconnected() {
  console.error('driver: Chromium went away');
  process.exit(1);
}
browser.on('disconnected', onDisconnected);

/** The current context, its one page, the URLs it requested and whether it runs scripts. */
let session = null;

/** Writes one reply line; resolves once it is flushed (a pipe is written asynchronously). */
function reply(message) {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, resolve));
}

function need(command, field, type = 'string') {
  const value = command[field];
  if (typeof value !== type) {
    throw new Error(`"${field}" must be a ${type}`);
  }
  return value;
}

function current() {
  if (!session) {
    throw new Error('no page: send new_context first');
  }
  return session;
}

function page() {
  return current().page;
}

/**
 * Runs a user action, then waits for the page to load. Playwright's element actions
 * (click, press on an element) already wait for a navigation they start to commit.
 */
async function settled(action) {
  await action();
  await page().waitForLoadState('load');
  return { url: page().url() };
}

/** The element with focus as a locator, or null when nothing (or only the body) has it. */
async function focusedLocator() {
  const focused = page().locator('*:focus').last();
  return (await focused.count()) > 0 ? focused : null;
}

/**
 * Chromium moves the focus to an `autofocus` element at its next rendering step, which
 * can come just after the load event. Waits (up to two seconds) until that has happened
 * where the page has such an element and nothing else took the focus.
 */
async function autofocusApplied() {
  for (let tries = 0; tries < 100; tries += 1) {
    const pending = await page().evaluate(() => {
      const wanted = document.querySelector('[autofocus]');
      const active = document.activeElement;
      return wanted !== null && (active === null || active === document.body);
    });
    if (!pending) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Chromium's own accessible role and name of document.activeElement (through CDP). */
async function accessibility() {
  const cdp = await page().context().newCDPSession(page());
  try {
    const { result } = await cdp.send('Runtime.evaluate', { expression: 'document.activeElement' });
    if (!result.objectId) {
      return { role: null, name: null };
    }
    const { nodes } = await cdp.send('Accessibility.getPartialAXTree', {
      objectId: result.objectId,
      fetchRelatives: false,
    });
    const node = nodes[0] ?? {};
    return { role: node.role?.value ?? null, name: node.name?.value ?? null };
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/**
 * With scripts disabled Chromium fires no timers, and axe-core resolves each rule through
 * setTimeout(…, 0). For the run, zero-delay timers become microtasks (which still run for
 * evaluated code); longer ones are axe's own time-outs and are never needed to finish.
 */
async function withTimersAsMicrotasks(run) {
  await page().evaluate(() => {
    window.__kluisSetTimeout = window.setTimeout;
    window.setTimeout = (callback, delay = 0, ...args) => {
      if (delay <= 1) {
        Promise.resolve().then(() => callback(...args));
      }
      return 0;
    };
  });
  try {
    return await run();
  } finally {
    await page()
      .evaluate(() => {
        window.setTimeout = window.__kluisSetTimeout;
      })
      .catch(() => {});
  }
}

const commands = {
  async new_context(command) {
    if (session) {
      await session.context.close();
      session = null;
    }
    const javascript = command.javascript ?? true;
    if (typeof javascript !== 'boolean') {
      throw new Error('"javascript" must be a boolean');
    }
    const options = { javaScriptEnabled: javascript, acceptDownloads: true };
    if (command.locale !== undefined) {
      options.locale = need(command, 'locale');
    }
    const context = await browser.newContext(options);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const requests = [];
    context.on('request', (request) => requests.push(request.url()));
    session = { context, page: await context.newPage(), requests, javascript };
    return {};
  },

  async goto(command) {
    const response = await page().goto(need(command, 'url'), { waitUntil: 'load' });
    return { url: page().url(), status: response?.status() ?? 0 };
  },

  // Playwright's click waits for a navigation it started to commit; then it must load.
  click: (command) => settled(() => page().locator(need(command, 'selector')).click()),

  async fill(command) {
    await page().locator(need(command, 'selector')).fill(need(command, 'value'));
    return {};
  },

  async check(command) {
    await page().locator(need(command, 'selector')).check();
    return {};
  },

  async uncheck(command) {
    await page().locator(need(command, 'selector')).uncheck();
    return {};
  },

  async select(command) {
    const value = command.value;
    const valid = typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!valid) {
      throw new Error('"value" must be a string or an array of strings');
    }
    const selected = await page().locator(need(command, 'selector')).selectOption(value);
    return { selected };
  },

  // A key pressed on the focused element goes through Playwright's element press, which
  // waits for a navigation it started (Enter submitting a form); otherwise the keyboard.
  async press(command) {
    const key = need(command, 'key');
    const focused = await focusedLocator();
    return settled(() => (focused ? focused.press(key) : page().keyboard.press(key)));
  },

  // Text put in where the focus is, as a paste (Ctrl+V) or an input method puts it.
  async paste(command) {
    await page().keyboard.insertText(need(command, 'text'));
    return {};
  },

  async focused() {
    await autofocusApplied();
    const element = await page().evaluate(() => {
      const active = document.activeElement;
      if (!active) {
        return null;
      }
      const labels = active.labels ? [...active.labels].map((label) => label.innerText.trim()) : [];
      return {
        tag: active.tagName.toLowerCase(),
        id: active.id || null,
        type: active.getAttribute('type'),
        text: (active.innerText ?? active.textContent ?? '').trim(),
        approximateName: active.getAttribute('aria-label') || labels.join(' ') || active.innerText?.trim() || null,
        explicitRole: active.getAttribute('role'),
      };
    });
    if (!element) {
      return { tag: null, name: null, role: null, text: null, id: null, type: null };
    }
    const { role, name } = await accessibility().catch(() => ({ role: null, name: null }));
    const { approximateName, explicitRole, ...rest } = element;
    return { ...rest, role: role ?? explicitRole, name: name ?? approximateName };
  },

  async text(command) {
    let selector = command.selector;
    if (selector === undefined) {
      selector = (await page().locator('main').count()) > 0 ? 'main' : 'body';
    } else {
      need(command, 'selector');
    }
    return { text: await page().locator(selector).innerText() };
  },

  async html() {
    return { html: await page().content() };
  },

  async url() {
    return { url: page().url() };
  },

  async count(command) {
    return { count: await page().locator(need(command, 'selector')).count() };
  },

  async attribute(command) {
    const locator = page().locator(need(command, 'selector'));
    return { value: await locator.getAttribute(need(command, 'name')) };
  },

  async axe(command) {
    const tags = command.tags ?? DEFAULT_TAGS;
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
      throw new Error('"tags" must be an array of strings');
    }
    const builder = new AxeBuilder({ page: page() }).withTags(tags);
    let results;
    if (current().javascript) {
      results = await builder.analyze();
    } else {
      // Legacy mode runs axe in the page itself, not in a new (equally script-less) page.
      results = await withTimersAsMicrotasks(() => builder.setLegacyMode(true).analyze());
    }
    const violations = results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.map((node) => node.target.flat().join(' >>> ')),
    }));
    return { violations };
  },

  async screenshot(command) {
    const fullPage = command.full_page ?? false;
    if (typeof fullPage !== 'boolean') {
      throw new Error('"full_page" must be a boolean');
    }
    await page().screenshot({ path: need(command, 'path'), fullPage });
    return {};
  },

  // Clicks `selector`, or, with `key` instead, presses that key on the focused element
  // (a download started from the keyboard).
  async download(command) {
    const trigger = async () => {
      if (command.key !== undefined) {
        const focused = await focusedLocator();
        if (!focused) throw new Error('nothing has the focus');
        return focused.press(need(command, 'key'));
      }
      return page().locator(need(command, 'selector')).click();
    };
    const [download] = await Promise.all([page().waitForEvent('download'), trigger()]);
    const suggested = download.suggestedFilename();
    const dir = await mkdtemp(join(tmpdir(), 'kluis-download-'));
    const path = join(dir, basename(suggested) || 'download');
    await download.saveAs(path);
    return { path, suggested_filename: suggested };
  },

  async requests() {
    return { urls: [...current().requests] };
  },

  async set_viewport(command) {
    const width = need(command, 'width', 'number');
    const height = need(command, 'height', 'number');
    await page().setViewportSize({ width, height });
    return {};
  },

  // How wide the page is (CSS pixels): wider than the viewport means sideways scrolling.
  async width() {
    const width = await page().evaluate(() => document.documentElement.scrollWidth);
    return { width };
  },

  async close() {
    await shutdown();
    closed = true;
    return {};
  },
};

async function handle(line) {
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    return { ok: false, error: `not JSON: ${error.message}` };
  }
  if (command === null || typeof command !== 'object' || typeof command.cmd !== 'string') {
    return { ok: false, error: 'a command is an object with a string "cmd"' };
  }
  const run = Object.hasOwn(commands, command.cmd) ? commands[command.cmd] : null;
  if (!run) {
    return { ok: false, error: `unknown command "${command.cmd}"` };
  }
  try {
    return { ok: true, ...(await run(command)) };
  } catch (error) {
    return { ok: false, error: String(error?.message ?? error).replace(/\u001b\[[0-9;]*m/g, '') };
  }
}

/** Set by the close command: the reply is the last line written. */
let closed = false;

async function shutdown() {
  browser.off('disconnected', onDisconnected);
  await browser.close().catch(() => {});
}

await reply({ ready: true });
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() !== '') {
    await reply(await handle(line));
  }
  if (closed) {
    process.exit(0);
  }
}
await shutdown();
process.exit(0);
