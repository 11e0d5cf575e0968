/** Unit tests for the text the extension shows. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  candidateItem,
  explanationDocument,
  failedModels,
  lifecycleView,
  modelsTitle,
  reviewSummary,
  seatItem,
  statusView,
} from '../../src/format';
import type { ImplementCandidate, ModelReport } from '../../src/protocol';

const candidate = (overrides: Partial<ImplementCandidate>): ImplementCandidate => ({
  title: 'add_one',
  edit: {},
  models: ['alpha', 'beta'],
  votes: 2,
  valid: true,
  problems: [],
  code: 'def add_one(x):\n    return x + 1\n',
  ...overrides,
});

describe('statusView', () => {
  it('shows the server message while busy, with a spinner, and offers cancelling', () => {
    const view = statusView({ state: 'busy', message: 'reviewing: 2 of 3 models', active: 1 });
    assert.equal(view.text, '$(sync~spin) Chorus: reviewing: 2 of 3 models');
    assert.match(view.tooltip, /Click to cancel/);
    assert.equal(view.label, 'Chorus busy: reviewing: 2 of 3 models');
    assert.equal(view.kind, 'busy');
  });

  it('describes active requests when the server sends no message', () => {
    assert.equal(statusView({ state: 'busy', message: '', active: 2 }).text, '$(sync~spin) Chorus: 2 requests running');
    assert.equal(statusView({ state: 'busy', active: ['alpha', 'beta'] }).text, '$(sync~spin) Chorus: waiting for alpha, beta');
  });

  it('shows errors and idle', () => {
    const error = statusView({ state: 'error', message: 'panels.review names "x"', active: 0 });
    assert.equal(error.kind, 'error');
    assert.match(error.tooltip, /panels.review names "x"/);
    assert.equal(statusView({ state: 'idle', message: '', active: 0 }).text, '$(comment-discussion) Chorus');
    assert.equal(lifecycleView('stopped', 'no interpreter').kind, 'stopped');
    assert.match(lifecycleView('stopped', 'no interpreter').tooltip, /not running: no interpreter/);
  });

  it('shows the budget line the server sends, as it is, in every state', () => {
    const budget = 'budget: $4.62 of $5.00 today';
    const idle = statusView({ state: 'idle', message: 'ready', active: 0, budget });
    assert.equal(idle.text, `$(comment-discussion) Chorus · ${budget}`);
    assert.equal(idle.budget, budget);
    assert.match(idle.tooltip, /budget: \$4\.62 of \$5\.00 today/);
    assert.equal(idle.label, `Chorus idle, ${budget}`);
    const busy = statusView({ state: 'busy', message: 'reviewing: 1 of 2 models', active: 1, budget });
    assert.equal(busy.text, `$(sync~spin) Chorus: reviewing: 1 of 2 models · ${budget}`);
    assert.equal(busy.kind, 'busy');
  });

  it('shows no budget when the server sends none', () => {
    for (const budget of [undefined, null, '', '  ']) {
      const view = statusView({ state: 'idle', message: 'ready', active: 0, budget });
      assert.equal(view.text, '$(comment-discussion) Chorus');
      assert.equal(view.budget, undefined);
    }
  });
});

describe('candidateItem', () => {
  it('names the models, the votes and validity, starring the best', () => {
    assert.deepEqual(candidateItem(candidate({}), 0), {
      label: '$(pass) $(star-full) add_one',
      description: 'alpha, beta · 2 votes',
      detail: 'valid',
    });
  });

  it('lists the problems of an invalid candidate', () => {
    const item = candidateItem(candidate({ valid: false, votes: 1, models: ['gamma'], problems: ['SyntaxError line 2', 'pytest failed'] }), 1);
    assert.equal(item.label, '$(warning) add_one');
    assert.equal(item.description, 'gamma · 1 vote');
    assert.equal(item.detail, 'invalid: SyntaxError line 2; pytest failed');
  });
});

describe('seatItem and modelsTitle', () => {
  it('shows the panels, the arbiter and the last status with latency', () => {
    const item = seatItem({
      name: 'alpha',
      model: 'openai/alpha',
      panels: ['review', 'explain'],
      arbiter: true,
      last_status: { name: 'alpha', status: 'ok', latency_ms: 1234 },
    });
    assert.equal(item.label, '$(pass) alpha');
    assert.equal(item.description, 'openai/alpha · arbiter');
    assert.equal(item.detail, 'panels: review, explain · last: ok in 1.2 s');
  });

  it('handles a seat never used and a failed one', () => {
    assert.equal(seatItem({ name: 'b', model: 'm', panels: [], arbiter: false, last_status: null }).detail, 'panels: no panel · last: not used yet');
    const failed = seatItem({ name: 'c', model: 'm', panels: ['review'], arbiter: false, last_status: { name: 'c', status: 'error', error: '401' } });
    assert.equal(failed.label, '$(error) c');
    assert.match(failed.detail, /last: error \(401\)/);
  });

  it('titles the list with the origin of the configuration', () => {
    assert.equal(modelsTitle({ models: [], origin: '/ws/chorus.toml' }), 'Chorus: 0 models from /ws/chorus.toml');
  });
});

describe('review summaries', () => {
  const models: ModelReport[] = [
    { name: 'alpha', status: 'ok', latency_ms: 10 },
    { name: 'beta', status: 'timeout' },
    { name: 'gamma', status: 'error', error: 'HTTP 500' },
    { name: 'delta', status: 'skipped' },
  ];

  it('lists models that did not answer', () => {
    assert.deepEqual(failedModels(models), ['beta timed out', 'gamma failed: HTTP 500']);
  });

  it('summarizes findings and answers', () => {
    assert.equal(
      reviewSummary(2, models),
      'Chorus: 2 findings — 1 of 4 models answered (beta timed out; gamma failed: HTTP 500).',
    );
    assert.equal(reviewSummary(0, [{ name: 'a', status: 'ok' }]), 'Chorus: no findings — 1 of 1 models answered.');
  });
});

describe('markdown', () => {
  it('builds the explanation page with who answered and the fixes', () => {
    const page = explanationDocument(
      { explanation: '## Why\nThe index is off by one.', fixes: [{ title: 'Fix' }], models: [{ name: 'alpha', status: 'ok' }, { name: 'beta', status: 'timeout' }] },
      'buggy.py',
    );
    assert.ok(page.startsWith('# Chorus: buggy.py\n\n## Why\nThe index is off by one.\n'));
    assert.match(page, /_Answered by: alpha\._/);
    assert.match(page, /_Not answered: beta timed out\._/);
    assert.match(page, /_1 suggested fix: choose one/);
  });

  it('says so when the panel had nothing to say', () => {
    assert.match(explanationDocument({ explanation: '  ', fixes: [], models: [] }, 'x.py'), /The panel had nothing to say/);
  });
});
