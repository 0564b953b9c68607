/** How the page writes times and ratios. */

/** Unix seconds as an ISO 8601 UTC time, to the second. */
export const iso = (t: number): string => new Date(t * 1000).toISOString().replace(".000Z", "Z");

/** Unix seconds as UTC hours and minutes, for the timeline's ticks. */
export const hhmm = (t: number): string => iso(t).slice(11, 16);

export const percent = (part: number, whole: number): string => (whole > 0 ? ((100 * part) / whole).toFixed(1) + " %" : "no lookups yet");
