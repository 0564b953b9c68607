/** GET /healthz: liveness, without auth (load balancers and `npm start` probe it). */
import { Health } from "../api/health.js";
import { route } from "../http/route.js";

export const healthRoutes = [
  route(
    {
      method: "get",
      path: "/healthz",
      summary: "Liveness. No token needed.",
      responses: { 200: { description: "the worker runs", schema: Health } },
    },
    () => ({ status: 200, body: { status: "ok" } }),
  ),
];
