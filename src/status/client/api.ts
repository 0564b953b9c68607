/**
 * The page's calls to the service: same origin only (the CSP's connect-src
 * allows nothing else), with the operator's token, which lives in this tab's
 * sessionStorage and nowhere else.
 */

const TOKEN_KEY = "esr.status.token";

export const token = (): string => sessionStorage.getItem(TOKEN_KEY) ?? "";

export const keepToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t);

export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

export interface Answer {
  status: number;
  /** Parsed JSON when the answer is JSON, its text otherwise. */
  body: unknown;
}

/** One same-origin GET, never from the HTTP cache. */
export async function api(path: string): Promise<Answer> {
  const t = token();
  const res = await fetch(path, { cache: "no-store", headers: t ? { authorization: "Bearer " + t } : {} });
  const isJson = (res.headers.get("content-type") ?? "").includes("json");
  return { status: res.status, body: isJson ? await res.json() : await res.text() };
}
