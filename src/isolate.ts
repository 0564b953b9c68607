/**
 * The deployed worker's one set of services per isolate (src/services.ts),
 * shared by the HTTP app and the Service Binding entrypoint (src/rpc/): the
 * same cached key ring, verified-token cache and session caches serve both.
 */
import { servicesFactory, systemClock } from "./services.js";

export const isolateServices = servicesFactory({ clock: systemClock });
