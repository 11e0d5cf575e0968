/**
 * The Chorus server's custom protocol: method names and the shapes of their parameters and results.
 *
 * Plain TypeScript (no `vscode` import) so the unit tests can use it. Positions and ranges are LSP's:
 * 0-based lines and UTF-16 characters.
 */

export const ReviewSelectionMethod = 'chorus/reviewSelection';
export const ImplementStubMethod = 'chorus/implementStub';
export const ExplainDiagnosticsMethod = 'chorus/explainDiagnostics';
export const ModelsMethod = 'chorus/models';
export const StatusNotificationMethod = 'chorus/status';
export const StatsMethod = 'chorus/stats';
export const HistoryMethod = 'chorus/history';
export const FeedbackMethod = 'chorus/feedback';

/**
 * The server commands that have a palette twin (registered by vscode-languageclient itself; the code actions
 * that run them are pointed at the twin, see `rewriteCommand`).
 */
export const ServerCommands = {
  reviewSelection: 'chorus.reviewSelection',
  implementStub: 'chorus.implementStub',
  explainDiagnostics: 'chorus.explainDiagnostics',
  stats: 'chorus.stats',
} as const;

/**
 * The server's feedback commands, run as they are by the quick fixes "Dismiss: not a problem", "Mark as useful"
 * and (after a fix's edit is applied) the accepted fix; the extension adds nothing to them.
 */
export const FeedbackCommands = {
  dismiss: 'chorus.dismissFinding',
  useful: 'chorus.markUseful',
  accept: 'chorus.acceptFix',
} as const;

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspTextEdit {
  range: LspRange;
  newText: string;
}

export interface LspDiagnostic {
  range: LspRange;
  message: string;
  severity?: number;
  source?: string;
  code?: string | number;
  relatedInformation?: { location: { uri: string; range: LspRange }; message: string }[];
  data?: unknown;
}

export interface LspWorkspaceEdit {
  changes?: Record<string, LspTextEdit[]>;
  documentChanges?: unknown[];
}

export type ModelStatus = 'ok' | 'error' | 'timeout' | 'invalid' | 'cancelled' | 'skipped';

/** What one seat did for one request. */
export interface ModelReport {
  name: string;
  model?: string;
  status: ModelStatus | string;
  latency_ms?: number | null;
  error?: string | null;
}

export interface ReviewSelectionParams {
  textDocument: { uri: string };
  range: LspRange;
  workDoneToken?: string;
}

export interface ReviewSelectionResult {
  diagnostics: LspDiagnostic[];
  models: ModelReport[];
}

export interface ImplementStubParams {
  textDocument: { uri: string };
  position: LspPosition;
  workDoneToken?: string;
}

export interface ImplementCandidate {
  title: string;
  edit: LspWorkspaceEdit;
  models: string[];
  votes: number;
  valid: boolean;
  problems: string[];
  code: string;
}

export interface ImplementStubResult {
  candidates: ImplementCandidate[];
  models: ModelReport[];
}

export interface ExplainDiagnosticsParams {
  textDocument: { uri: string };
  range: LspRange;
  diagnostics?: LspDiagnostic[];
  workDoneToken?: string;
}

export interface ExplainDiagnosticsResult {
  explanation: string;
  fixes: unknown[];
  models: ModelReport[];
}

/** One configured seat, as `chorus/models` describes it. */
export interface SeatDescription {
  name: string;
  model: string;
  panels: string[];
  arbiter: boolean;
  /** How the seat fared on its last request (a ModelReport), or null before its first request. */
  last_status?: ModelReport | string | null;
}

export interface ModelsResult {
  models: SeatDescription[];
  origin?: string | null;
  notice?: string | null;
  /** Why no panel can run (e.g. no model configured), when that is so. */
  problem?: string | null;
}

/** The server's `chorus/status` notification, shown in the status bar. */
export interface StatusParams {
  state: 'idle' | 'busy' | 'error' | string;
  message?: string | null;
  active?: number | string[] | null;
  /** The budget's state when a limit is near or reached ("budget: $4.62 of $5.00 today"); absent otherwise. */
  budget?: string | null;
}

export interface StatsParams {
  /** Seconds, or a duration such as "30d" or "12h"; every recorded run when omitted. */
  since?: number | string;
  task?: 'review' | 'implement' | 'explain';
}

/** One model's line in `chorus/stats` (shares are 0..1, or null when there is nothing to divide). */
export interface ModelStatsRow {
  model: string;
  runs: number;
  answered_rate: number | null;
  error_rate: number | null;
  timeout_rate: number | null;
  cached_share: number | null;
  p50_latency_ms: number | null;
  p95_latency_ms: number | null;
  cost_usd: number;
  agreement: number | null;
  accepted: number;
  dismissed: number;
  useful: number;
}

/** `chorus/stats`: the typed report, and the same as markdown (what the extension shows). */
export interface StatsResult {
  since: number | null;
  task: string | null;
  models: ModelStatsRow[];
  tasks: { task: string; runs: number; median_wall_ms: number | null; cost_usd: number }[];
  /** False when the memory is off or cannot be read. */
  available: boolean;
  markdown: string;
}

/** JSON-RPC's "request cancelled" error code, returned by the server when `$/cancelRequest` arrived. */
export const RequestCancelledCode = -32800;
