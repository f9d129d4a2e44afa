// What every entry point throws, synchronously, for an argument or option it cannot take (a url that is not
// one, a listener that is not a function, a misspelt option): a TypeError, named so as Node's own argument
// errors are, so existing checks keep working, with a stable `code` an app can branch on. Refusals of what
// the relay would refuse are the client's LocalRefusalError instead, with the relay's code.
export class ArgumentError extends TypeError {
  readonly code = "bad_argument" as const;
}
