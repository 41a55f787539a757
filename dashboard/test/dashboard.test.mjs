// Loads the DatDot dashboard in headless Chromium (Debian's) against a
// running devnet, waits for live data and checks what a person would see.
//
//   DASHBOARD_URL=http://127.0.0.1:9100 EXPECT_HOSTERS=3 EXPECT_ORDER=1 \
//   EXPECT_BUCKET=media EXPECT_OBJECTS=1 EXPECT_GATEWAY_SLOTS=4 SCREENSHOT=docs/dashboard.png node dashboard.test.mjs
//
// EXPECT_GATEWAY_SLOTS=n (the gateway on the network backend): the
// gateway's volume orders are shown, marked, with n slots each, and the page
// shows live (open) challenges of them and their outcomes in the feed.
//
// Every wait is on a condition with a generous timeout, never a fixed sleep.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const url = process.env.DASHBOARD_URL;
if (!url) { console.error('DASHBOARD_URL is not set'); process.exit(2); }
const expectHosters = Number(process.env.EXPECT_HOSTERS || 0);
const expectOrder = process.env.EXPECT_ORDER || '';
const expectBucket = process.env.EXPECT_BUCKET || '';
const expectObjects = Number(process.env.EXPECT_OBJECTS || 0);
const expectChallenges = Number(process.env.EXPECT_CHALLENGES || 0);
const expectGatewaySlots = Number(process.env.EXPECT_GATEWAY_SLOTS || 0);
const TIMEOUT = Number(process.env.TEST_TIMEOUT_MS || 90000);

let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log('ok   ' + name); }
  catch (e) { failed++; console.log('FAIL ' + name + ': ' + (e && e.message ? e.message.split('\n')[0] : e)); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'datdot-chromium-'));
// A fresh profile directory each run (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(userDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pageErrors = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url, { waitUntil: 'load' });
  const text = async (sel) => (await page.locator(sel).first().textContent()).trim();

  await check('the page connects to the chain (badge says live)', async () => {
    await page.waitForFunction(() => document.querySelector('#conn')?.textContent === 'live', null, { timeout: TIMEOUT });
    assert(await text('#chain-id') !== '…', 'no chain id shown');
  });

  await check('the block height grows while the page is open', async () => {
    const h0 = Number((await text('#height')).replace(/,/g, ''));
    assert(h0 > 0, 'height ' + h0);
    await page.waitForFunction((h) => Number(document.querySelector('#height').textContent.replace(/,/g, '')) > h, h0, { timeout: TIMEOUT });
  });

  await check(`at least ${expectHosters} hosters are listed with stake, capacity and status`, async () => {
    await page.waitForFunction((n) => document.querySelectorAll('#hosters tbody tr[data-address]').length >= n, expectHosters, { timeout: TIMEOUT });
    const rows = await page.locator('#hosters tbody tr[data-address]').count();
    assert(rows >= expectHosters, rows + ' rows');
    if (expectHosters > 0) {
      // Every row, not only the first: each hoster is ACTIVE with its stake
      // and capacity.
      for (let i = 0; i < rows; i++) {
        const row = page.locator('#hosters tbody tr[data-address]').nth(i);
        const cells = await row.locator('td').allTextContents();
        const who = 'row ' + (i + 1) + ': ';
        assert(/^datdot1/.test(await row.getAttribute('data-address')), who + 'address');
        assert(cells[1].trim() === 'ACTIVE', who + 'status ' + cells[1]);
        assert(/DOT$/.test(cells[4].trim()) && cells[4].trim() !== '0 DOT', who + 'stake ' + cells[4]);
        assert(/iB$/.test(cells[5].trim()), who + 'capacity ' + cells[5]);
      }
      assert(Number(await text('#n-hosters')) === rows, 'card count differs from the table');
    }
  });

  if (expectOrder) {
    await check(`order #${expectOrder} is shown ACTIVE with its slots`, async () => {
      const sel = `#orders tbody tr[data-order="${expectOrder}"]`;
      await page.waitForFunction((s) => document.querySelector(s)?.querySelector('.st')?.textContent === 'ACTIVE', sel, { timeout: TIMEOUT });
      const slots = await page.locator(sel + ' .slot').count();
      assert(slots >= 1, 'no slot shown');
      assert(Number(await text('#n-orders')) >= Number(expectOrder), 'orders card');
    });
    await check('payments show up: the order accrues to its hosters', async () => {
      const sel = `#orders tbody tr[data-order="${expectOrder}"] td:nth-child(8)`;
      await page.waitForFunction((s) => { const t = document.querySelector(s)?.textContent || ''; return /(DOT|udot)$/.test(t) && t !== '0 DOT'; }, sel, { timeout: TIMEOUT });
    });
    // The page reads back the last EVENT_WINDOW blocks at load: an order
    // placed earlier than that is checked without its placement events
    // (EXPECT_ORDER_EVENTS=0).
    if (process.env.EXPECT_ORDER_EVENTS !== '0') await check('the event feed shows the order being placed, assigned and committed', async () => {
      for (const t of ['EventOrderPlaced', 'EventOrderAssigned', 'EventCommitted']) {
        await page.waitForSelector(`#events li[data-type$="${t}"]`, { timeout: TIMEOUT });
      }
    });
    await check('the chart plots stored bytes and challenges', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#chart polyline').length === 3, null, { timeout: TIMEOUT });
      assert(/iB/.test(await text('#stored')) && (await text('#stored')) !== '0 B', 'stored ' + await text('#stored'));
    });
  }

  if (expectChallenges > 0) {
    await check(`at least ${expectChallenges} challenges are counted, issued and passed in the feed, reputation shown`, async () => {
      await page.waitForFunction((n) => Number(document.querySelector('#challenges').textContent.replace(/,/g, '')) >= n, expectChallenges, { timeout: TIMEOUT });
      await page.waitForSelector('#events li[data-type$="EventChallengeIssued"]', { timeout: TIMEOUT });
      await page.waitForSelector('#events li.pass[data-type$="EventChallengePassed"]', { timeout: TIMEOUT });
      await page.waitForFunction(() => [...document.querySelectorAll('#hosters tbody tr[data-address] td:last-child')].some((td) => /^\d+$/.test(td.textContent.trim())), null, { timeout: TIMEOUT });
    });
  }

  if (expectGatewaySlots > 0) {
    await check(`the gateway's volume orders are marked, ACTIVE, with ${expectGatewaySlots} slots each`, async () => {
      await page.waitForFunction(() => [...document.querySelectorAll('#orders tbody tr[data-gateway="1"]')].some((r) => r.querySelector('.st')?.textContent === 'ACTIVE'), null, { timeout: TIMEOUT });
      const rows = page.locator('#orders tbody tr[data-gateway="1"]');
      const n = await rows.count();
      for (let i = 0; i < n; i++) {
        const slots = await rows.nth(i).locator('.slot').count();
        assert(slots === expectGatewaySlots, `gateway order ${await rows.nth(i).getAttribute('data-order')} shows ${slots} slots`);
        assert((await rows.nth(i).locator('td').nth(2).textContent()).includes('gateway'), 'owner not marked as the gateway');
        assert(/^erasure \d+-of-\d+$/.test((await rows.nth(i).locator('td').nth(3).textContent()).trim()), 'shape');
      }
    });
    await check("a live challenge of a gateway order is shown, then its outcome in the feed", async () => {
      await page.waitForSelector('#live tbody tr[data-gateway="1"]', { timeout: TIMEOUT });
      const gwOrders = await page.$$eval('#orders tbody tr[data-gateway="1"]', (rs) => rs.map((r) => r.dataset.order));
      const live = await page.locator('#live tbody tr[data-gateway="1"]').first().getAttribute('data-order');
      assert(gwOrders.includes(live), `live challenge of order ${live}, gateway orders ${gwOrders}`);
      await page.waitForFunction((ids) => ids.some((id) => document.querySelector(`#events li[data-type$="EventChallengeIssued"][data-order="${id}"]`)), gwOrders, { timeout: TIMEOUT });
      await page.waitForFunction((ids) => ids.some((id) => document.querySelector(`#events li.pass[data-type$="EventChallengePassed"][data-order="${id}"]`)), gwOrders, { timeout: TIMEOUT });
      // the slots of the gateway's orders count passes (passes/faults)
      await page.waitForFunction(() => [...document.querySelectorAll('#orders tbody tr[data-gateway="1"] .slot')].some((s) => /· [1-9]\d*\/\d+$/.test(s.textContent.trim())), null, { timeout: TIMEOUT });
    });
  }

  if (expectBucket) {
    await check(`the gateway's bucket ${expectBucket} is listed with ${expectObjects} objects`, async () => {
      const sel = `#buckets tbody tr[data-bucket="${expectBucket}"] td:nth-child(2)`;
      await page.waitForFunction(([s, n]) => Number((document.querySelector(s)?.textContent || '-1').replace('+', '')) >= n, [sel, expectObjects], { timeout: TIMEOUT });
    });
  }

  await check('no script error on the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join('; '));
  });

  if (process.env.SCREENSHOT) {
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    console.log('screenshot: ' + process.env.SCREENSHOT);
  }
} finally {
  await browser.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
console.log(`dashboard: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
