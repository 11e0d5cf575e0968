/**
 * Text the extension shows: the status bar, the implement quick pick, the models list, review summaries,
 * and the explanation page.
 *
 * No `vscode` import: the unit tests run this module under plain Node. Codicons are written as `$(name)`.
 */

import type {
  ExplainDiagnosticsResult,
  ImplementCandidate,
  ModelReport,
  ModelsResult,
  SeatDescription,
  StatusParams,
} from './protocol';

export interface StatusView {
  text: string;
  tooltip: string;
  /** What screen readers (and the end-to-end test) read: "Chorus busy: reviewing: 2 of 3 models". */
  label: string;
  kind: 'idle' | 'busy' | 'error' | 'starting' | 'stopped';
  /** The server's budget line, shown as it is (a limit near or reached), when it sent one. */
  budget?: string;
}

/** The status bar item for a server `chorus/status` notification (its budget line appended as sent). */
export function statusView(status: StatusParams): StatusView {
  const view = serverStateView(status);
  const budget = (status.budget ?? '').trim();
  if (budget.length === 0) {
    return view;
  }
  return {
    text: `${view.text} · ${budget}`,
    tooltip: `${view.tooltip}\n${budget}`,
    label: `${view.label}, ${budget}`,
    kind: view.kind,
    budget,
  };
}

function serverStateView(status: StatusParams): StatusView {
  const message = (status.message ?? '').trim();
  if (status.state === 'busy') {
    const text = message.length > 0 ? message : describeActive(status.active);
    return {
      text: `$(sync~spin) Chorus: ${text}`,
      tooltip: `Chorus is ${text}. Click to cancel.`,
      label: `Chorus busy: ${text}`,
      kind: 'busy',
    };
  }
  if (status.state === 'error') {
    const detail = message.length > 0 ? message : 'error';
    return {
      text: '$(error) Chorus',
      tooltip: `Chorus: ${detail}. Click to open the output.`,
      label: `Chorus error: ${detail}`,
      kind: 'error',
    };
  }
  return {
    text: '$(comment-discussion) Chorus',
    tooltip: `Chorus: ${message.length > 0 ? message : 'idle'}. Click to open the output.`,
    label: 'Chorus idle',
    kind: 'idle',
  };
}

function describeActive(active: StatusParams['active']): string {
  if (Array.isArray(active) && active.length > 0) {
    return `waiting for ${active.join(', ')}`;
  }
  if (typeof active === 'number' && active > 0) {
    return `${active} request${active === 1 ? '' : 's'} running`;
  }
  return 'working';
}

/** The status bar while the server is starting or could not be started. */
export function lifecycleView(kind: 'starting' | 'stopped', detail?: string): StatusView {
  if (kind === 'starting') {
    return { text: '$(loading~spin) Chorus', tooltip: 'Chorus: starting the server…', label: 'Chorus starting', kind };
  }
  return {
    text: '$(circle-slash) Chorus',
    tooltip: `Chorus is not running${detail ? `: ${detail}` : ''}. Click to open the output.`,
    label: `Chorus stopped${detail ? `: ${detail}` : ''}`,
    kind,
  };
}

export interface PickItemText {
  label: string;
  description: string;
  detail: string;
}

/** One implement candidate in the quick pick: title, who proposed it, votes and whether it validated. */
export function candidateItem(candidate: ImplementCandidate, index: number): PickItemText {
  const icon = candidate.valid ? '$(pass)' : '$(warning)';
  const votes = `${candidate.votes} vote${candidate.votes === 1 ? '' : 's'}`;
  const models = candidate.models.length > 0 ? candidate.models.join(', ') : 'no model';
  const validity = candidate.valid
    ? 'valid'
    : `invalid: ${candidate.problems.length > 0 ? candidate.problems.join('; ') : 'did not validate'}`;
  return {
    label: `${icon} ${index === 0 ? '$(star-full) ' : ''}${candidate.title}`,
    description: `${models} · ${votes}`,
    detail: validity,
  };
}

/** One seat in the "Show Models" list. */
export function seatItem(seat: SeatDescription): PickItemText {
  const last = seat.last_status;
  const status = typeof last === 'string' ? last : (last?.status ?? 'not used yet');
  let lastText = status;
  if (typeof last === 'object' && last !== null) {
    if (typeof last.latency_ms === 'number') {
      lastText += ` in ${(last.latency_ms / 1000).toFixed(1)} s`;
    }
    if (last.error) {
      lastText += ` (${last.error})`;
    }
  }
  const panels = seat.panels.length > 0 ? seat.panels.join(', ') : 'no panel';
  return {
    label: `${statusIcon(status)} ${seat.name}`,
    description: `${seat.model}${seat.arbiter ? ' · arbiter' : ''}`,
    detail: `panels: ${panels} · last: ${lastText}`,
  };
}

function statusIcon(status: string): string {
  switch (status) {
    case 'ok':
      return '$(pass)';
    case 'error':
    case 'invalid':
      return '$(error)';
    case 'timeout':
      return '$(watch)';
    case 'cancelled':
    case 'skipped':
      return '$(circle-slash)';
    default:
      return '$(circle-outline)';
  }
}

/** The title of the "Show Models" list. */
export function modelsTitle(result: ModelsResult): string {
  const count = `${result.models.length} model${result.models.length === 1 ? '' : 's'}`;
  return result.origin ? `Chorus: ${count} from ${result.origin}` : `Chorus: ${count}`;
}

/** Seats that did not answer, e.g. "gamma timed out, delta failed: 401". */
export function failedModels(models: ModelReport[]): string[] {
  return models
    .filter((model) => model.status !== 'ok' && model.status !== 'skipped')
    .map((model) => {
      if (model.status === 'timeout') {
        return `${model.name} timed out`;
      }
      if (model.status === 'cancelled') {
        return `${model.name} was cancelled`;
      }
      return `${model.name} ${model.status === 'invalid' ? 'gave an unusable answer' : 'failed'}${model.error ? `: ${model.error}` : ''}`;
    });
}

/** One line after a review: how many findings and how many seats answered. */
export function reviewSummary(diagnosticCount: number, models: ModelReport[]): string {
  const answered = models.filter((model) => model.status === 'ok').length;
  const findings = diagnosticCount === 0 ? 'no findings' : `${diagnosticCount} finding${diagnosticCount === 1 ? '' : 's'}`;
  const failures = failedModels(models);
  const tail = failures.length > 0 ? ` (${failures.join('; ')})` : '';
  return `Chorus: ${findings} — ${answered} of ${models.length} models answered${tail}.`;
}

/** The explanation page: the server's markdown, then who answered. */
export function explanationDocument(result: ExplainDiagnosticsResult, fileName: string): string {
  const body = result.explanation.trim().length > 0 ? result.explanation.trim() : '_The panel had nothing to say._';
  const answered = result.models.filter((model) => model.status === 'ok').map((model) => model.name);
  const failures = failedModels(result.models);
  const footer = [`_Answered by: ${answered.length > 0 ? answered.join(', ') : 'no model'}._`];
  if (failures.length > 0) {
    footer.push(`_Not answered: ${failures.join('; ')}._`);
  }
  if (result.fixes.length > 0) {
    const count = `${result.fixes.length} suggested fix${result.fixes.length === 1 ? '' : 'es'}`;
    footer.push(`_${count}: choose one from the notification to apply it._`);
  }
  return [`# Chorus: ${fileName}`, '', body, '', '---', '', ...footer, ''].join('\n');
}
