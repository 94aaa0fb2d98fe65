// What each backend's report says about the sections it feeds: an agent must always know why
// a section is missing or old, never meet a blank one.

import { label, seconds, span } from "./format.js";
import { Source, SourceStatus, type CustomerProfile, type SourceReport } from "./gen/customer360/v1/profile_pb.js";

/** The profile's sections, in the order the view shows them. */
export type SectionName = "identity" | "insights" | "billing" | "orders" | "shipments" | "interactions";

/** The backends each section is read from. */
export const FEEDS: Record<SectionName, Source[]> = {
  identity: [Source.CRM],
  insights: [Source.BILLING, Source.ORDERS, Source.FULFILMENT, Source.CRM],
  billing: [Source.BILLING],
  orders: [Source.ORDERS],
  shipments: [Source.FULFILMENT],
  interactions: [Source.CRM],
};

const NAMES: Record<number, string> = {
  [Source.BILLING]: "Billing",
  [Source.ORDERS]: "Orders",
  [Source.FULFILMENT]: "Fulfilment",
  [Source.CRM]: "CRM",
};

/** A backend's name as agents know it. */
export function sourceName(source: Source): string {
  return NAMES[source] ?? "Unknown backend";
}

/** A backend's name as the page's attributes (and its tests) know it: "billing". */
export function sourceKey(source: Source): string {
  return label(Source, source);
}

/** "OK", "STALE · 3 min old", "TIMEOUT", … */
export function statusText(report: SourceReport): string {
  const name = SourceStatus[report.status] ?? "UNKNOWN";
  if (report.status === SourceStatus.STALE) return `${name} · ${span(seconds(report.age))} old`;
  if (report.status === SourceStatus.SKIPPED) return "not asked";
  return name;
}

/** The report of `source` in `profile`. */
export function reportOf(profile: CustomerProfile, source: Source): SourceReport | undefined {
  return profile.sources.find((r) => r.source === source);
}

/** Why a section the profile lacks is missing, in a sentence. */
export function whyMissing(profile: CustomerProfile, section: SectionName): string {
  const reports = FEEDS[section].map((s) => reportOf(profile, s)).filter((r) => r !== undefined);
  const failed = reports.filter((r) => r.status !== SourceStatus.OK && r.status !== SourceStatus.STALE);
  if (failed.length > 0 && failed.every((r) => r.status === SourceStatus.SKIPPED)) {
    return "Not shown: your role may not read this section.";
  }
  const down = failed.filter((r) => r.status !== SourceStatus.SKIPPED);
  if (down.length > 0) {
    return `Not available: ${down.map((r) => `${sourceName(r.source)} ${statusText(r)}`).join(", ")}.`;
  }
  return "Not available: c360 sent no data for this section.";
}

/** The sources that were served stale for `section`, as a note; empty when all are fresh. */
export function staleNote(profile: CustomerProfile, section: SectionName): string {
  const stale = FEEDS[section]
    .map((s) => reportOf(profile, s))
    .filter((r) => r !== undefined && r.status === SourceStatus.STALE) as SourceReport[];
  return stale.map((r) => `${sourceName(r.source)} ${statusText(r)}`).join(", ");
}
