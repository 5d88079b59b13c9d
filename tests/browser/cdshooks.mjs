// Browser test of the CDS Hooks service (cdshooks/), driven by
// tests/cdshooks_test.go:TestBrowserCDSHooks: headless Chromium, driven by
// playwright-core, opens a page standing in for an EHR (served by the Go
// test at another origin), which gets a CDS client JWT from its own server,
// calls patient-view across origins (CORS preflight included) and renders
// the cards. The Go test passes:
//
//   EHR_URL      http://127.0.0.1:<port>/ehr   an EHR origin the facade allows (CDS_CORS_ORIGINS)
//   ROGUE_URL    http://127.0.0.1:<port>/ehr   the same page from an origin it does not allow
//   NOBODY       an NHS number no national service knows
//   ARTIFACTS    directory for screenshots
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { EHR_URL, ROGUE_URL, NOBODY, ARTIFACTS } = process.env;
assert.ok(EHR_URL && ROGUE_URL && NOBODY && ARTIFACTS, 'EHR_URL, ROGUE_URL, NOBODY and ARTIFACTS are required');
mkdirSync(ARTIFACTS, { recursive: true });

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });

  // The EHR opens 9000000009's record: the cards appear, most urgent first.
  await page.goto(`${EHR_URL}?patient=9000000009`);
  await page.waitForSelector('#status[data-done]');
  assert.equal(await page.textContent('#status'), 'ok', await page.textContent('#error'));
  const cards = page.locator('.card');
  assert.equal(await cards.count(), 5, 'five cards for 9000000009');
  const first = cards.nth(0);
  assert.equal(await first.getAttribute('data-indicator'), 'critical');
  assert.match(await first.locator('.summary').textContent(), /Child protection/);
  assert.match(await first.locator('.detail').textContent(), /01632 960999/);
  const href = await first.locator('a.smart').getAttribute('href');
  assert.match(href, /\/view\/launch$/);
  const indicators = await cards.evaluateAll((els) => els.map((e) => e.dataset.indicator));
  assert.deepEqual(indicators, ['critical', 'warning', 'warning', 'info', 'info']);
  await page.screenshot({ path: join(ARTIFACTS, 'cdshooks-9000000009.png'), fullPage: true });

  // A patient with nothing to say: no cards, and says so.
  await page.goto(`${EHR_URL}?patient=${NOBODY}`);
  await page.waitForSelector('#status[data-done]');
  assert.equal(await page.textContent('#status'), 'ok');
  assert.equal(await page.locator('.card').count(), 0);
  assert.match(await page.textContent('#cards'), /No alerts/);

  // The same page from an origin the facade does not allow: the browser refuses.
  await page.goto(`${ROGUE_URL}?patient=9000000009`);
  await page.waitForSelector('#status[data-done]');
  assert.equal(await page.textContent('#status'), 'failed');
  assert.equal(await page.locator('.card').count(), 0);
  console.log('cdshooks browser test: ok');
} finally {
  await browser.close();
}
