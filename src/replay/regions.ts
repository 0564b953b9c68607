/**
 * Regions for the replay guard's shards: Cloudflare's Durable Object
 * location hints. A Durable Object stays where it was first created; one
 * created with a hint is created near it. Each region has its own shards,
 * and a single-use ticket or stored session names (sealed inside it) the
 * region it was issued in: a client resumes near where it got the ticket,
 * so its one use costs a round trip within its region, while every open of
 * that ticket, from anywhere, asks the same shard (exactly once holds).
 */

export const REGIONS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type Region = (typeof REGIONS)[number];

/** A region as sealed in tickets and records: 1 to 9; 0 is none (legacy shards). */
export function regionCode(region: Region | undefined): number {
  return region === undefined ? 0 : REGIONS.indexOf(region) + 1;
}

export function regionOfCode(code: number): Region | undefined {
  return REGIONS[code - 1];
}

export function isRegion(value: unknown): value is Region {
  return typeof value === "string" && (REGIONS as readonly string[]).includes(value);
}

/** Each region's rough centre (latitude, longitude): where its objects are placed. */
const CENTRES: Record<Region, [number, number]> = {
  wnam: [37.4, -122.1],
  enam: [39.0, -77.5],
  sam: [-23.5, -46.6],
  weur: [50.1, 8.7],
  eeur: [52.2, 21.0],
  apac: [1.35, 103.8],
  oc: [-33.9, 151.2],
  afr: [-26.2, 28.0],
  me: [25.2, 55.3],
};

/** The region nearest a point, by great-circle distance to each centre. */
export function nearestRegion(latitude: number, longitude: number): Region {
  const rad = Math.PI / 180;
  let best: Region = "enam";
  let bestCos = -2;
  for (const region of REGIONS) {
    const [lat, lon] = CENTRES[region];
    // The cosine of the central angle: larger is nearer.
    const cos = Math.sin(latitude * rad) * Math.sin(lat * rad) + Math.cos(latitude * rad) * Math.cos(lat * rad) * Math.cos((longitude - lon) * rad);
    if (cos > bestCos) {
      bestCos = cos;
      best = region;
    }
  }
  return best;
}

/** The region of the data center a request reached, from its `cf` properties; undefined when it has none (local development, tests). */
export function regionOfRequest(cf: { latitude?: unknown; longitude?: unknown } | undefined): Region | undefined {
  const latitude = Number(cf?.latitude);
  const longitude = Number(cf?.longitude);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || cf?.latitude === undefined || cf?.longitude === undefined) return undefined;
  return nearestRegion(latitude, longitude);
}
