// One line about a heuristics report, for the snapshot command's output.

import { FINDING_TYPES, type HeuristicsReport } from "./findings.ts";

export function heuristicsSummary(r: HeuristicsReport): string {
  const counts = FINDING_TYPES.map((t) => [t, r.findings.filter((f) => f.type === t).length + (r.truncated[t] ?? 0)] as const).filter(([, n]) => n > 0);
  const total = counts.reduce((s, [, n]) => s + n, 0);
  const what = counts.map(([t, n]) => `${n} ${t}`).join(", ");
  const kinds = ["preloaded", "dlopen", "injected"].map((k) => [k, r.objects.filter((o) => o.kind === k).length] as const).filter(([, n]) => n > 0);
  const objects = kinds.length > 0 ? `; objects: ${kinds.map(([k, n]) => `${n} ${k}`).join(", ")}` : "";
  return `${total} finding(s)${total > 0 ? ` (${what})` : ""}${objects}${r.problems.length > 0 ? `; ${r.problems.length} problem(s) (ecfs read -e)` : ""}`;
}
