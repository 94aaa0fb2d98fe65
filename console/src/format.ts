// How values read on the agent's screen: money in its currency, times in the agent's zone,
// durations and ages in words, the API's enum values as labels.

import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Money } from "./gen/customer360/v1/common_pb.js";

const digitsCache = new Map<string, number>();

function minorDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** "£12.50"; a dash when there is no amount. */
export function money(amount: Money | undefined): string {
  if (!amount || !amount.currencyCode) return "—";
  const digits = minorDigits(amount.currencyCode);
  const value = Number(amount.amountMinor) / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: amount.currencyCode }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${amount.currencyCode}`;
  }
}

/** Minor units from what an agent typed ("12.5" → 1250 in GBP). */
export function toMinor(text: string, currency: string): bigint | null {
  const trimmed = text.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return null;
  const digits = minorDigits(currency);
  const [whole, fraction = ""] = trimmed.split(".");
  if (fraction.length > digits) return null;
  return BigInt(whole + fraction.padEnd(digits, "0"));
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** "7 Dec 2026, 10:53"; a dash when unset. */
export function when(time: Timestamp | undefined): string {
  return time ? dateTime.format(timestampDate(time)) : "—";
}

/** "7 Dec 2026"; a dash when unset. */
export function day(time: Timestamp | undefined): string {
  return time ? dateOnly.format(timestampDate(time)) : "—";
}

/** The machine-readable form of a time, for `<time datetime>`. */
export function iso(time: Timestamp | undefined): string | null {
  return time ? timestampDate(time).toISOString() : null;
}

/** Seconds as words: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function span(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** A duration's seconds. */
export function seconds(duration: Duration | undefined): number {
  return duration ? Number(duration.seconds) + duration.nanos / 1e9 : 0;
}

/** An enum value's label, from its generated name: `IN_TRANSIT` → "in transit". */
export function label(names: Record<number, string>, value: number): string {
  const name = names[value];
  return name && name !== "UNSPECIFIED" ? name.toLowerCase().replaceAll("_", " ") : "unknown";
}
