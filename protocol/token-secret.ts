// How long an HS256 secret must be (RFC 7518 §3.2). The relay's config, mintToken and startRelay refuse a
// shorter one with the same words, each naming where the secret came from and never the secret itself.
import { utf8Length } from "./encoding.ts";
import { MIN_TOKEN_SECRET_BYTES } from "./limits.ts";

/**
 * Why `secret` is too short to sign or check tokens with, named by its length alone (a log must not hold
 * it) and by `holder` (where it came from: "WEFT_TOKEN_SECRET", "the HS256 secret"); undefined if it is not.
 */
export function shortSecretProblem(holder: string, secret: string): string | undefined {
  const bytes = utf8Length(secret);
  if (bytes >= MIN_TOKEN_SECRET_BYTES) return undefined;
  return (
    `${holder} has ${bytes} byte${bytes === 1 ? "" : "s"}, under the ${MIN_TOKEN_SECRET_BYTES} an HS256 secret needs (MIN_TOKEN_SECRET_BYTES, RFC 7518 §3.2): ` +
    "anyone holding one token could find it by trying keys, and mint admin tokens; make one with `openssl rand -base64 32`"
  );
}
