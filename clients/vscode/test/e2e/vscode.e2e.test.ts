/**
 * End-to-end test in a real VS Code (code-server) driven by headless Chromium: the built .vsix, the real
 * `chorus serve`, and the fake model server. Each step saves a screenshot in test-artifacts/; a failing step
 * fails the test (and skips the rest).
 */

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { chromium, type Browser, type Page } from 'playwright-core';

import { ARTIFACTS, CHROMIUM, REPO_ROOT, TCP_ESTABLISHED, TCP_TIME_WAIT, socketsOn, startEnvironment, stopEnvironment, waitFor, type Environment } from './harness';

const STATUS = '[id="chorus-lsp.chorus.chorus.status"]';
const QUICK_INPUT = '.quick-input-widget';

let environment: Environment | undefined;
let browser: Browser | undefined;
let page: Page;
let failed = false;
let shot = 0;

async function screenshot(name: string): Promise<string> {
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** One step: skipped after an earlier failure; a screenshot is saved when it fails. */
function step(name: string, body: () => Promise<void>, timeoutMs = 90000): void {
  it(name, { timeout: timeoutMs }, async (t: TestContext) => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await body();
    } catch (error) {
      failed = true;
      await screenshot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => undefined);
      throw error;
    }
  });
}

async function statusLabel(): Promise<string> {
  return (await page.locator(STATUS).getAttribute('aria-label', { timeout: 2000 })) ?? '';
}

async function waitForStatus(pattern: RegExp, timeoutMs = 30000): Promise<string> {
  return waitFor(`the Chorus status bar to match ${pattern}`, async () => {
    const label = await statusLabel();
    return pattern.test(label) ? label : undefined;
  }, timeoutMs);
}

/** Run a command from the palette (F1), clicking the row with exactly this title. */
async function runCommand(title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator(`${QUICK_INPUT} input`);
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`>${title}`);
  const row = page.locator(`${QUICK_INPUT} .monaco-list-row`, { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10000 });
  await row.click();
}

/** Open a workspace file with Quick Open and wait for its editor. */
async function openFile(name: string): Promise<void> {
  await page.keyboard.press('Control+P');
  const input = page.locator(`${QUICK_INPUT} input`);
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(name);
  const row = page.locator(`${QUICK_INPUT} .monaco-list-row`, { hasText: name }).first();
  await row.waitFor({ timeout: 10000 });
  await row.click();
  await page.locator('.editor-group-container.active .tab.active', { hasText: name }).first().waitFor({ timeout: 10000 });
  await page.locator('.editor-group-container.active .monaco-editor textarea').first().focus();
}

/** Put the cursor at the start of a 1-based line. */
async function goToLine(line: number): Promise<void> {
  await page.keyboard.press('Control+G');
  const input = page.locator(`${QUICK_INPUT} input`);
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10000 });
  await page.keyboard.press('Home');
  await page.keyboard.press('Home');
}

async function save(): Promise<void> {
  await page.keyboard.press('Control+S');
  await page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: 10000 });
}

function workspaceFile(name: string): string {
  assert.ok(environment);
  return readFileSync(path.join(environment.workspace, name), 'utf8');
}

/** The text shown in the bottom panel's editors (the Output view). */
async function panelText(): Promise<string> {
  return (await page.locator('.panel .monaco-editor .view-lines').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
}

/** Text of every frame (the markdown preview is a webview inside nested iframes). */
async function framesText(): Promise<string> {
  const texts = await Promise.all(page.frames().map((frame) => frame.locator('body').innerText({ timeout: 1000 }).catch(() => '')));
  return texts.join('\n');
}

describe('Chorus in VS Code (code-server)', { timeout: 600000 }, () => {
  before(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    environment = await startEnvironment();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await stopEnvironment(environment);
  });

  step('the workbench loads and the Chorus server starts from the installed .vsix', async () => {
    assert.ok(environment);
    await page.goto(environment.url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    await waitForStatus(/^Chorus idle$/, 60000);
    await screenshot('startup');
  });

  step('Review Selection shows squiggles and agreement counts in Problems', async () => {
    await openFile('buggy.py');
    await goToLine(4);
    await page.keyboard.press('Control+Shift+End');
    await runCommand('Chorus: Review Selection');
    await page.locator('.notification-toast', { hasText: 'Chorus: reviewing' }).first().waitFor({ timeout: 10000 }).catch(() => undefined);
    await page.locator('.editor-group-container.active .squiggly-error').first().waitFor({ timeout: 60000 });
    const problems = await waitFor('the Problems count', async () => {
      const text = await page.locator('[id="status.problems"]').innerText();
      const total = (text.match(/\d+/g) ?? []).map(Number).reduce((sum, count) => sum + count, 0);
      return total >= 2 ? text : undefined;
    }, 30000);
    assert.ok(problems);
    await page.keyboard.press('Control+Shift+M');
    const panel = page.locator('.markers-panel');
    await panel.waitFor({ timeout: 10000 });
    const rows = await waitFor('Chorus rows in Problems', async () => {
      const text = await panel.innerText();
      return /\[2\/3\]/.test(text) && /\[3\/3\]/.test(text) ? text : undefined;
    }, 20000);
    assert.match(rows, /\[2\/3\][^\n]*SQL injection/i);
    await page.keyboard.press('Escape');
    await page.mouse.move(5, 450);
    await screenshot('review');
  });

  step("hovering a finding shows each model's own words", async () => {
    await page.locator('.editor-group-container.active .monaco-editor textarea').first().focus();
    await goToLine(5);
    await page.keyboard.press('End');
    await page.keyboard.press('Control+K');
    await page.keyboard.press('Control+I');
    const hover = page.locator('.monaco-hover', { hasText: "Each model's words" });
    await hover.first().waitFor({ timeout: 15000 });
    const text = await hover.first().innerText();
    assert.match(text, /f-string|pasted into the query/);
    /** The README's picture: squiggles, each model's words, and the agreement counts in Problems. */
    const file = await screenshot('hover');
    const docs = path.join(REPO_ROOT, 'docs', 'images');
    mkdirSync(docs, { recursive: true });
    copyFileSync(file, path.join(docs, 'vscode-review.png'));
    await page.keyboard.press('Escape');
  });

  step('a quick fix from the lightbulb changes the text', async () => {
    await page.locator('.editor-group-container.active .monaco-editor textarea').first().focus();
    await goToLine(5);
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: /Fix \(2\/3 models\)/ }).first();
    await waitFor('the quick fix menu (Ctrl+.)', async () => {
      await page.keyboard.press('Control+.');
      return (await fix.waitFor({ timeout: 4000 }).then(() => true, () => undefined));
    }, 20000);
    await screenshot('quick-fix-menu');
    await fix.click();
    await save();
    const text = workspaceFile('buggy.py');
    assert.ok(text.includes('WHERE name = ?", (name,)'), text);
    assert.ok(!text.includes("'{name}'"), text);
    await screenshot('quick-fix-applied');
  });

  step('Implement Stub offers candidates with votes and a diff, and applies the pick', async () => {
    await openFile('stubs.py');
    await goToLine(3);
    await runCommand('Chorus: Implement Stub');
    const candidates = page.locator(`${QUICK_INPUT} .monaco-list-row`, { hasText: 'votes' });
    await candidates.first().waitFor({ timeout: 60000 });
    const listText = await page.locator('#quickInput_list').innerText();
    assert.match(listText, /impl-a, impl-b · 2 votes/);
    assert.match(listText, /valid/);
    await page.locator('.monaco-diff-editor').first().waitFor({ timeout: 15000 });
    await screenshot('implement-pick');
    await page.keyboard.press('Enter');
    await page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: 10000 });
    await waitFor('the diff preview to close', async () => ((await page.locator('.monaco-diff-editor').count()) === 0 ? true : undefined), 10000);
    await page.locator('.editor-group-container.active .monaco-editor textarea').first().focus();
    await save();
    assert.match(workspaceFile('stubs.py'), /^\s+return x \+ 1$/m);
    await screenshot('implement-applied');
  });

  step('Explain Diagnostics opens a markdown preview beside the editor', async () => {
    await openFile('buggy.py');
    const offByOne = workspaceFile('buggy.py').split('\n').findIndex((line) => line.includes('len(values) + 1'));
    assert.ok(offByOne >= 0);
    await goToLine(offByOne + 1);
    await runCommand('Chorus: Explain Diagnostics');
    await page.locator('.tab', { hasText: 'Chorus explanation' }).first().waitFor({ timeout: 60000 });
    await waitFor('the explanation text in the preview', async () => ((await framesText()).includes('Why the average is wrong') ? true : undefined), 20000);
    await screenshot('explain');
    const previewTab = page.locator('.tab', { hasText: 'Chorus explanation' }).first();
    await previewTab.hover();
    await previewTab.locator('.tab-actions .action-label').first().click();
    await previewTab.waitFor({ state: 'detached', timeout: 10000 });
  });

  step('Dismiss from the quick fix menu removes the finding at once', async () => {
    await openFile('buggy.py');
    const offByOne = workspaceFile('buggy.py').split('\n').findIndex((line) => line.includes('len(values) + 1'));
    assert.ok(offByOne >= 0);
    await goToLine(offByOne + 1);
    const squiggles = page.locator('.editor-group-container.active .squiggly-error');
    assert.ok((await squiggles.count()) > 0, 'the off-by-one finding is shown before it is dismissed');
    const dismiss = page.locator('.action-widget .monaco-list-row', { hasText: 'Dismiss: not a problem' }).first();
    await waitFor('the Dismiss quick fix (Ctrl+.)', async () => {
      await page.keyboard.press('Control+.');
      return (await dismiss.waitFor({ timeout: 4000 }).then(() => true, () => undefined));
    }, 20000);
    const menu = await page.locator('.action-widget').first().innerText();
    assert.match(menu, /Mark as useful/);
    await screenshot('dismiss-menu');
    await dismiss.click();
    await waitFor('the dismissed finding to disappear', async () => ((await squiggles.count()) === 0 ? true : undefined), 15000);
    await screenshot('dismissed');
  });

  step('Show Model Stats renders the table with the accepted fix and the dismissal', async () => {
    await runCommand('Chorus: Show Model Stats');
    await page.locator('.tab', { hasText: 'Chorus model stats' }).first().waitFor({ timeout: 30000 });
    const text = await waitFor('the stats table in the preview', async () => {
      const all = await framesText();
      return /Fixes accepted/.test(all) && /openai\/gamma/.test(all) ? all : undefined;
    }, 20000);
    /** alpha and beta found both problems: the SQL fix was applied (accepted), the off-by-one dismissed. */
    assert.match(text, /openai\/alpha[^\n]*1 \(50%\)[^\n]*1 \(50%\)/);
    /** gamma found only the off-by-one, which was dismissed. */
    assert.match(text, /openai\/gamma[^\n]*1 \(100%\)/);
    assert.match(text, /review/);
    await screenshot('model-stats');
    const statsTab = page.locator('.tab', { hasText: 'Chorus model stats' }).first();
    await statsTab.hover();
    await statsTab.locator('.tab-actions .action-label').first().click();
    await statsTab.waitFor({ state: 'detached', timeout: 10000 });
  });

  step('Show Models lists the panel and each seat’s last status', async () => {
    await page.keyboard.press('Escape');
    await runCommand('Chorus: Show Models');
    const list = page.locator('#quickInput_list');
    await page.locator(`${QUICK_INPUT} .monaco-list-row`, { hasText: 'alpha' }).first().waitFor({ timeout: 15000 });
    const text = await list.innerText();
    assert.match(text, /openai\/alpha/);
    assert.match(text, /panels: review · last: ok/);
    assert.match(text, /impl-a/);
    await screenshot('models');
    await page.keyboard.press('Escape');
  });

  step('Show Output shows the server log', async () => {
    await runCommand('Chorus: Show Output');
    await waitFor('the Chorus output', async () => ((await panelText()).includes('Server started.') ? true : undefined), 15000);
    await screenshot('output');
  });

  step('a slow review is cancelled from its notification and the model call is aborted', async () => {
    assert.ok(environment);
    const settings = path.join(environment.workspace, '.vscode');
    mkdirSync(settings, { recursive: true });
    writeFileSync(path.join(settings, 'settings.json'), JSON.stringify({ 'chorus.panels': { review: ['slow'] } }, null, 2));
    await waitFor('the new settings to reach the server', async () => ((await panelText()).includes('Settings changed') ? true : undefined), 20000);
    await openFile('buggy.py');
    await page.keyboard.press('Control+A');
    await runCommand('Chorus: Review Selection');
    const toast = page.locator('.notification-toast', { hasText: 'Chorus: reviewing' }).first();
    await toast.waitFor({ timeout: 15000 });
    await waitForStatus(/^Chorus busy: reviewing/, 15000);
    const port = environment.slowPort;
    await waitFor('the call to the slow model', () => (socketsOn(port, 'remote', TCP_ESTABLISHED) > 0 ? true : undefined), 45000);
    await sleep(1000);
    await screenshot('slow-review');
    const started = Date.now();
    await toast.hover();
    await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
    await toast.waitFor({ state: 'detached', timeout: 5000 });
    /** The slow model is still sleeping on its answer: only an aborted request closes the connection now. */
    await waitFor(
      'the model call to be aborted',
      () => (socketsOn(port, 'remote', TCP_ESTABLISHED) === 0 && socketsOn(port, 'remote', TCP_TIME_WAIT) > 0 ? true : undefined),
      10000,
    );
    await waitForStatus(/^Chorus idle$/, 10000);
    assert.ok(Date.now() - started < 10000, 'cancelling took too long');
    assert.match(await panelText(), /chorus\/reviewSelection cancelled/);
    await screenshot('cancelled');
  });
  step('Restart Server restarts it', async () => {
    await runCommand('Chorus: Restart Server');
    await waitFor('the restart in the output', async () => {
      const text = await panelText();
      const restart = text.lastIndexOf('Restart requested.');
      return restart >= 0 && text.indexOf('Server started.', restart) > restart ? true : undefined;
    }, 60000);
    await waitForStatus(/^Chorus idle$/, 60000);
    await screenshot('restarted');
  });


  step('a missing interpreter gives one notification with a button to the setting', async () => {
    assert.ok(environment);
    const settings = path.join(environment.workspace, '.vscode', 'settings.json');
    writeFileSync(settings, JSON.stringify({ 'chorus.interpreter': '/nonexistent/bin/python3' }, null, 2));
    const toast = page.locator('.notification-toast', { hasText: 'Chorus cannot start' });
    await toast.first().waitFor({ timeout: 30000 });
    await waitForStatus(/^Chorus stopped/, 10000);
    assert.equal(await toast.count(), 1);
    assert.match(await toast.first().innerText(), /\/nonexistent\/bin\/python3\) does not exist/);
    await screenshot('missing-interpreter');
    await toast.first().hover();
    await toast.first().locator('.monaco-button', { hasText: 'Open Setting' }).click();
    await page.locator('.settings-editor').waitFor({ timeout: 15000 });
    await page.locator('.settings-editor .setting-item-contents', { hasText: 'Interpreter' }).first().waitFor({ timeout: 15000 });
    await screenshot('interpreter-setting');
  });
});
