// Browser tests of the summary viewer (viewer/), driven by tests/browser_test.go:
// headless Chromium from Debian, driven by playwright-core. The Go test starts
// a facade on a free loopback port and passes:
//
//   FACADE_ROOT   http://127.0.0.1:<port>      the facade's root (FHIR base is /fhir)
//   CONTROL_URL   http://127.0.0.1:<port2>     POST /fault?source=cpis&on=1|0: the sandbox fault switch
//   ARTIFACTS     directory for screenshots
//
// The local clinical system's part (registering a launch) is done here with
// fetch, as an EHR's server would; everything else is the browser.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = process.env.FACADE_ROOT;
const FHIR = `${ROOT}/fhir`;
const CONTROL = process.env.CONTROL_URL;
const ART = process.env.ARTIFACTS;
assert.ok(ROOT && CONTROL && ART, 'FACADE_ROOT, CONTROL_URL and ARTIFACTS are required');
mkdirSync(ART, { recursive: true });

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

// The local system registers a launch for a patient: POST /oauth/launch as
// the confidential dev client.
async function registerLaunch(patient) {
  const res = await fetch(`${ROOT}/oauth/launch`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from('facade-dev:facade-dev-secret').toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ patient, role: 'clinician' }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, `POST /oauth/launch: ${res.status} ${text}`);
  const body = JSON.parse(text);
  assert.ok(body.launch, 'no launch id');
  return body.launch;
}

const launchURL = (id) => `${ROOT}/view/launch?iss=${encodeURIComponent(FHIR)}&launch=${encodeURIComponent(id)}`;

async function fault(source, on) {
  const res = await fetch(`${CONTROL}/fault?source=${source}&on=${on ? 1 : 0}`, { method: 'POST' });
  assert.equal(res.status, 204, `fault switch: ${res.status}`);
}

// launch opens the viewer in context for patient in a fresh browser context
// (no cookies), following every redirect: launch → authorize → callback → page.
async function launch(browser, patient, viewport) {
  const context = await browser.newContext({ viewport, locale: 'en-GB' });
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  const res = await page.goto(launchURL(await registerLaunch(patient)));
  assert.equal(res.status(), 200, `the launch ended with ${res.status()} at ${page.url()}`);
  assert.equal(new URL(page.url()).pathname, `/view/Patient/${patient}`);
  assert.ok(!/code=|state=|access_token/.test(page.url()), 'the final URL carries OAuth parameters');
  return { context, page, cspErrors };
}

async function top(locator) {
  const box = await locator.boundingBox();
  assert.ok(box, 'element not rendered');
  return box.y;
}

async function shot(page, name, fullPage = true) {
  const path = join(ART, name);
  await page.screenshot({ path, fullPage });
  console.log(`screenshot ${path}`);
}

const results = [];
async function scenario(name, fn) {
  try {
    await fn();
    results.push(`ok   ${name}`);
  } catch (err) {
    results.push(`FAIL ${name}: ${err.message}`);
    process.exitCode = 1;
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  await scenario('a: launch for 9000000009, summary, document, keyboard', async () => {
    const { context, page, cspErrors } = await launch(browser, '9000000009', PHONE);
    await expectText(page, '[data-testid="nhs-number"]', '900 000 0009');
    // 9000000009 died on 22 October 2010 (PDS): that comes first.
    await expectDeceased(page, 'Died 22 October 2010', PHONE);
    // Alerts before allergies, and in the first screen of a phone.
    const flags = page.locator('#flags-h');
    assert.ok(await top(flags) < await top(page.locator('#allergies-h')), 'alerts are not before allergies');
    assert.ok(await top(flags) + 24 < PHONE.height, `alerts heading at ${await top(flags)}px: below the fold`);
    assert.ok(await top(page.locator('.flag').first()) < PHONE.height, 'the first alert is below the fold');
    await expectText(page, '#flags', 'Child Protection Plan');
    for (const [id, text] of [['allergies', 'wasp sting'], ['medications', 'Co-codamol'], ['vaccinations', 'COVID-19'], ['documents', 'End of life care']]) {
      await expectText(page, `#${id}`, text);
    }
    await shot(page, 'summary-phone.png');
    await shot(page, 'summary-phone-first-screen.png', false);
    // No horizontal scrolling at 360 px.
    await page.setViewportSize({ width: 360, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 360px`);
    // Keyboard: the skip link is the first stop, and it moves focus to main.
    await page.setViewportSize(DESKTOP);
    await page.reload();
    await shot(page, 'summary-desktop.png');
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => ({ cls: document.activeElement.className, text: document.activeElement.textContent }));
    assert.equal(first.cls, 'skip-link', `the first Tab stop is ${JSON.stringify(first)}`);
    assert.ok(await page.locator('.skip-link').isVisible(), 'the focused skip link is not visible');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'the skip link does not move focus to main');
    // A document link opens the document, through the viewer, with the session.
    const link = page.locator('#documents a').first();
    const href = await link.getAttribute('href');
    assert.match(href, /^\/view\/Patient\/9000000009\/document\/[A-Za-z0-9.-]+$/);
    const [doc] = await Promise.all([context.waitForEvent('page'), link.click()]);
    const docRes = await doc.waitForLoadState().then(() => doc.request.get(doc.url()));
    assert.equal(docRes.status(), 200, `the document answered ${docRes.status()}`);
    assert.match(docRes.headers()['content-type'], /json|pdf/);
    assert.match(await doc.content(), /resourceType|PDF/, 'the document did not open');
    await doc.close();
    // (d) The session cannot open another patient's page, nor their documents.
    const other = await page.goto(`${ROOT}/view/Patient/9000000025`);
    assert.equal(other.status(), 403);
    await expectText(page, 'h1', 'You cannot view this patient here');
    assert.ok(!(await page.content()).includes('900 000 0025'), 'the 403 page shows the other NHS number');
    const otherDoc = await page.goto(`${ROOT}/view/Patient/9000000025/document/Y07213-1000000107`);
    assert.equal(otherDoc.status(), 403);
    assert.deepEqual(cspErrors, [], 'Content-Security-Policy violations');
    await context.close();
  });

  await scenario('b: restricted patient 9000000025, then sign out', async () => {
    const { context, page } = await launch(browser, '9000000025', DESKTOP);
    await expectText(page, '[data-testid="nhs-number"]', '900 000 0025');
    await expectText(page, '[data-testid="restricted"]', 'Restricted record');
    await expectDeceased(page, 'Died 22 October 2010', DESKTOP);
    assert.equal(await page.locator('[data-testid="gp"]').count(), 0, 'a GP is shown');
    assert.equal(await page.locator('[data-testid="address"]').count(), 0, 'an address is shown');
    await shot(page, 'restricted-desktop.png');
    // Signing out ends the session: the page says so, and the record is gone.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expectText(page, 'h1', 'You have signed out');
    const after = await page.goto(`${ROOT}/view/Patient/9000000025`);
    assert.equal(after.status(), 401, 'the record is still shown after signing out');
    await context.close();
  });

  await scenario('c: CP-IS down, a banner names it', async () => {
    await fault('cpis', true);
    try {
      const { context, page } = await launch(browser, '9000000009', PHONE);
      const banner = page.locator('[data-testid="failures"]');
      assert.ok(await banner.isVisible(), 'no failure banner');
      await expectText(page, '[data-testid="failures"]', 'Child Protection - Information Sharing (CP-IS)');
      await expectText(page, '#flags', 'May be incomplete');
      assert.ok(await top(page.locator('#flags-h')) < PHONE.height, 'alerts pushed below the fold by the banner');
      await shot(page, 'partial-phone.png');
      await shot(page, 'partial-phone-first-screen.png', false);
      await context.close();
    } finally {
      await fault('cpis', false);
    }
  });

  await scenario('d: without a session, a page says to launch again', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${ROOT}/view/Patient/9000000009`);
    assert.equal(res.status(), 401);
    await expectText(page, '[data-testid="relaunch"]', 'from your clinical system');
    // A launch naming another server is refused, not followed.
    const foreign = await page.goto(`${ROOT}/view/launch?iss=${encodeURIComponent('https://evil.example/fhir')}&launch=x`);
    assert.equal(foreign.status(), 400);
    assert.equal(new URL(page.url()).host, new URL(ROOT).host);
    await context.close();
  });

  await scenario('e: a living patient 9693632109: age, and no deceased banner', async () => {
    const { context, page } = await launch(browser, '9693632109', DESKTOP);
    await expectText(page, '[data-testid="nhs-number"]', '969 363 2109');
    assert.equal(await page.locator('[data-testid="deceased"]').count(), 0, 'a living patient has the deceased banner');
    assert.equal(await page.getByRole('alert').count(), 0, 'a living patient\'s page has an alert role');
    assert.ok(!/deceased/i.test(await page.locator('body').textContent()), 'a living patient\'s page says deceased');
    assert.ok(!/^Deceased/.test(await page.title()), 'the title says Deceased');
    // Born 23 June 1946: the age on today's date in England.
    const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(new Date()).split('-').map(Number);
    const age = y - 1946 - (m < 6 || (m === 6 && d < 23) ? 1 : 0);
    await expectText(page, '[data-testid="born"]', `23-Jun-1946 (${age} years)`);
    await shot(page, 'living-desktop.png', false);
    await context.close();
  });
} finally {
  await browser.close();
}
console.log(results.join('\n'));

// expectDeceased checks a deceased patient's page leads with the deceased
// banner: an alert, worded (never colour alone), high contrast, before the
// name and every clinical list, and in the first screen.
async function expectDeceased(page, died, viewport) {
  const banner = page.locator('[data-testid="deceased"]');
  assert.equal(await banner.count(), 1, 'no deceased banner');
  assert.ok(await banner.isVisible(), 'the deceased banner is not visible');
  await expectText(page, '[data-testid="deceased"]', 'Deceased');
  await expectText(page, '[data-testid="deceased"]', died);
  assert.equal(await page.getByRole('alert').filter({ hasText: 'Deceased' }).count(), 1, 'the deceased banner is not an alert');
  assert.match(await page.title(), /^Deceased: /, 'the title does not say Deceased');
  const box = await banner.boundingBox();
  assert.ok(box.y + box.height <= viewport.height, `the deceased banner ends at ${box.y + box.height}px: below the first screen`);
  for (const after of ['#patient-name', '#flags-h', '#allergies-h', '#medications-h', '#vaccinations-h', '#documents-h']) {
    assert.ok(box.y + box.height <= await top(page.locator(after)), `${after} is above the deceased banner's end`);
  }
  const failures = page.locator('[data-testid="failures"]');
  if (await failures.count()) {
    assert.ok(box.y + box.height <= await top(failures), 'the failures banner is above the deceased banner');
  }
  // Text against background at least 7:1 (WCAG AAA), bold label, and no
  // more than the page's own width.
  const style = await banner.evaluate((el) => {
    const lum = (c) => {
      const [r, g, b] = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const s = getComputedStyle(el);
    const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
    return { contrast: (a + 0.05) / (b + 0.05), bold: Number(getComputedStyle(el.querySelector('strong')).fontWeight) >= 700 };
  });
  assert.ok(style.contrast >= 7, `the deceased banner's contrast is ${style.contrast.toFixed(1)}:1`);
  assert.ok(style.bold, 'the word Deceased is not bold');
}

async function expectText(page, selector, text) {
  const got = await page.locator(selector).first().textContent();
  assert.ok(got && got.includes(text), `${selector}: ${JSON.stringify(got)} lacks ${JSON.stringify(text)}`);
}
