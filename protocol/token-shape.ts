// What a token must look like to be a JWT at all: three base64url parts separated by dots (RFC 7519's
// compact form). The SDK refuses anything else before sending it, and the relay refuses it with the same
// words, naming the slips an app makes when it hands on what its backend answered: a trailing newline, the
// "Bearer " of an Authorization header, the quotes or the object of a JSON body.

/** Three base64url parts; padding at the end of a part is tolerated, as the relay's JWT verifier does. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}$/;

/** Why `token` is not a JWT, naming the likely slip; undefined when it has a JWT's shape. */
export function jwtShapeProblem(token: string): string | undefined {
  if (JWT_SHAPE.test(token)) return undefined;
  return `the token is not a JWT (three base64url parts separated by dots): ${likelySlip(token)}`;
}

function likelySlip(token: string): string {
  const trimmed = token.trim();
  if (/^bearer\s/i.test(trimmed)) return 'it starts with "Bearer "; give the token alone, without the Authorization scheme';
  if (trimmed !== token) return "it has whitespace at its start or end (a trailing newline?); trim it";
  if (token.startsWith('"')) return "it is in quotes, the JSON text of a string; give the string itself (JSON.parse it)";
  if (token.startsWith("{") || token.startsWith("[")) return "it is JSON text; give the token it holds, not the whole body";
  if (/\s/.test(token)) return "it holds whitespace";
  const parts = token.split(".");
  if (parts.length !== 3) return `it has ${parts.length} ${parts.length === 1 ? "part" : "parts"} separated by dots`;
  if (parts.some((part) => part === "")) return "one of its parts is empty";
  return "a part holds characters other than A-Z a-z 0-9 - _";
}

/**
 * Whether an `unauthorized` refusal is of the token itself (its signature, claims or shape), not of the
 * agent (not a member): the relay words every such refusal "the token ...", and the SDK asks getToken for
 * another once on one (a key rotated under a token the app cached).
 */
export const isTokenRefusal = (message: string): boolean => typeof message === "string" && message.startsWith("the token");
