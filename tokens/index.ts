// weft/tokens: app tokens for a Weft relay, minted on the app's backend (Node 22 or Workers).
export { mintToken, generateTokenKeys, type TokenClaims, type TokenSigningKey, type TokenJwk, type TokenCryptoKey, type TokenKeyPair } from "./mint-token.ts";
