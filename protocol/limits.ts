// Every limit the relay and the SDK enforce, in one place. Both ends import these,
// so a client never builds a frame the relay would refuse.

/**
 * Wire protocol version, sent in `challenge` and `hello`. 2: transaction data may be bytes, carried in
 * binary frames (protocol/binary-frame.ts). 3: a snapshot carries the newest time its author had seen,
 * signed (protocol/snapshot.ts); one stored under 2 carries none and still verifies. 4: the relay's long
 * answers are windowed (ANSWER_WINDOW_BYTES): a client echoes each `mark` as `marked`, and one that never
 * does (a client of 3) would stall on its first answer past the window.
 */
export const PROTOCOL_VERSION = 4;

/** Largest frame either side accepts, in bytes: UTF-8 bytes of a text frame, all bytes of a binary one (under 1 MiB). */
export const MAX_FRAME_BYTES = 1_000_000;
/**
 * The relay compresses a frame to a client that can inflate it (its hello's `inflate`) when the frame has at
 * least this many bytes: answers to loads, opens and resumes, and large bursts. A live frame of a few
 * keystrokes stays far below it, so fan-out costs no compression and clients inflate nothing while typing
 * (why the relay declines permessage-deflate: worker/group-object.ts). See COMPRESSION_LEVEL for the cost.
 */
export const COMPRESS_MIN_BYTES = 4 * 1024;
/**
 * zlib level of compressed frames. Sync answers are repetitive (a Yjs keystroke update repeats its client
 * id and structure; columns of `at` differences repeat), so the fastest level keeps the gain at a fraction
 * of the relay CPU: for a 60 KB frame of 2,000 Yjs-sized keystroke updates, level 1 gave 9.9 KB in 0.25 ms,
 * level 6 (zlib's default) 11.0 KB in 4.6 ms (node:zlib on the shared machine; the same zlib as workerd's).
 */
export const COMPRESSION_LEVEL = 1;
/** Outgoing `content` frames are packed up to this size, leaving room for the envelope. */
export const CHUNK_TARGET_BYTES = 256 * 1024;
/**
 * The relay's frames are packed up to about this size (UTF-16 units of JSON, or UTF-8 bytes of transaction
 * data), and the answers it streams from storage (loads, opens, resumes) into `content` messages of about this
 * size. Under 128 KiB, the size past which V8 (Node, workerd, Chrome) puts a string in its large-object
 * space: building, flattening, decoding and parsing such a string cost several times more per byte (for a
 * load of 10,000 transactions of 100 bytes, frames of 96 KiB took a fifth of the relay's and a third of the
 * SDK's JavaScript CPU of frames of 256 KiB: bench/measure/read-path-cpu.ts), and deflate and inflate were
 * faster too, at the same compressed size.
 */
export const RELAY_FRAME_TARGET_BYTES = 96 * 1024;
/**
 * Largest `data` of one snapshot (protocol/snapshot.ts): UTF-8 bytes of text, or bytes. A snapshot travels
 * whole in one frame, so it stays under MAX_FRAME_BYTES with its envelope; a document whose state is larger
 * is not snapshotted (its log keeps every transaction).
 */
export const MAX_SNAPSHOT_BYTES = 768 * 1024;
/** Largest `data` of one transaction: UTF-8 bytes of text, or bytes. Well under SQLite's 2 MB per value in production. */
export const MAX_TRANSACTION_BYTES = 256 * 1024;
/**
 * Most bytes one transaction's data may take in a frame: text as a JSON string, escapes included (a NUL is
 * six bytes, a quote two), so the largest still travels alone in a frame beside the largest header. Only
 * text with many characters JSON escapes can be within MAX_TRANSACTION_BYTES and past this. The relay and
 * the SDK judge it by one function (codec.ts: transactionSizeProblem), refusing `transaction_too_large`.
 */
export const MAX_TRANSACTION_WIRE_BYTES = MAX_FRAME_BYTES - 8 * 1024;
/**
 * Most transactions in one frame from a client, over all its messages and sessions: each is hashed and
 * stored in the event its frame arrives in, so a frame of tiny transactions must not carry 100,000 of them.
 * A frame over it is refused whole (`transaction_too_large`); the SDK starts another frame before it.
 */
export const MAX_TRANSACTIONS_PER_FRAME = 2_000;
/** Most sessions in one `content` message. */
export const MAX_SESSIONS_PER_FRAME = 1_000;
/**
 * Most writer sessions one document may have. A `known` state lists them all in one frame: 10,000 ids
 * of ~60 characters stay well under MAX_FRAME_BYTES.
 */
export const MAX_SESSIONS_PER_DOCUMENT = 10_000;
/**
 * How far ahead of the relay's clock a transaction's or a snapshot's `at` may be (ms). Times order every
 * replica's view, and a new write sorts after every time its writer saw: one stamped far ahead would win
 * every concurrent last-writer-wins race until the clocks caught up, and one at the largest time would leave
 * every later write tied with it, ordered by session id instead of by when it was made. A day covers a
 * device's clock set in the wrong time zone; the SDK stamps by the relay's clock once it has heard it.
 */
export const MAX_CLOCK_AHEAD_MS = 24 * 60 * 60 * 1000;
/**
 * How far a client's idea of the relay's time may be off (heard as the relay sent it, a trip ago; the
 * clocks drift since): the SDK stamps this much short of MAX_CLOCK_AHEAD_MS, and takes a refused time this
 * close to its idea of the relay's clock for one that idea stamped (client/relay-clock.ts).
 */
export const RELAY_CLOCK_SLACK_MS = 60_000;
/**
 * Most sessions one agent may write in one document: a tenth of MAX_SESSIONS_PER_DOCUMENT, so one member
 * cannot use up a shared document's sessions and leave every new writer refused. Agents cost nothing to
 * make, so this holds where the group admits only its members (tokens, a membership log): in an open group
 * ten throwaway agents fill a document's sessions in seconds. An agent's devices and
 * tabs reuse their sessions (the local stores lease them); a client on a MemoryLocalStore starts one per run.
 */
export const MAX_SESSIONS_PER_AGENT_PER_DOCUMENT = 1_000;
/**
 * Most sockets one group object lets wait in the handshake. A newcomer beyond it pushes out the one that
 * has waited longest, so sockets that never say hello cannot hold every place for good. They can still
 * push out a member whose hello takes longer to come than 256 of them take to open (1,000 a second against
 * a 400 ms round trip): such a flood needs a limit in front of the relay (a rate limiting rule on its route).
 */
export const MAX_PENDING_HANDSHAKES = 256;
/** Hibernatable WebSockets the platform lets one Durable Object hold. */
export const PLATFORM_SOCKETS_PER_OBJECT = 32_768;
/**
 * Most authenticated peers one group object serves at once (sockets still in the handshake do not count):
 * all the platform allows, less room for the sockets in the handshake.
 */
export const MAX_PEERS_PER_GROUP = PLATFORM_SOCKETS_PER_OBJECT - MAX_PENDING_HANDSHAKES;
/**
 * Most authenticated sockets one agent holds in one group at once. A client holds one socket per group, so
 * this is that many tabs or processes of one identity with the group open. Each socket costs the object what
 * any peer does (its presence shown to every reader, up to LAGGING_UNREAD_BYTES held while it does not
 * read): 2,000 sockets of one member sent every new reader 2.3 MB of presence. Past it the hello gets
 * `too_many_peers` (`retryAfter`). Like the session caps, it protects a group that admits only its members:
 * in an open group agents cost nothing to make.
 */
export const MAX_SOCKETS_PER_AGENT = 64;
/** A socket that has not completed its hello this long after the challenge is closed (`not_ready`). */
export const HANDSHAKE_DEADLINE_MS = 10_000;
/**
 * How long the SDK waits for the app's getToken before it gives up on that attempt (told to onError, then
 * tried again after the backoff): inside the handshake's deadline, so the app hears why.
 */
export const GET_TOKEN_WAIT_MS = HANDSHAKE_DEADLINE_MS - 2_000;
/**
 * How long the SDK waits for a new socket to open (the WebSocket upgrade answered) before it gives up on
 * that attempt (told to onError, then tried again after the backoff). A proxy or load balancer that takes
 * the connection and never answers would otherwise keep the group connecting for good, since the runtimes
 * set no bound of their own. As long as the relay gives the hello that follows: a relay within reach opens
 * the socket in a few round trips, even over a slow mobile link; createClient's connectTimeoutMs changes it.
 */
export const CONNECT_TIMEOUT_MS = HANDSHAKE_DEADLINE_MS;
/**
 * The longest pace of partial frames an app may set (createClient's pushIntervalMs): a write waits at most
 * this long for others to fill its frame. A minute, beyond which an app is holding writes, not pacing them.
 */
export const MAX_PUSH_INTERVAL_MS = 60_000;
/**
 * How long closing a group (client.close(), group.close()) waits for it to finish reading the local store
 * when a binding holds edits for a document still being read: it opens first and takes them. A store
 * that reads slower than this, or keeps failing, loses those edits (the binding's `loaded` says so).
 */
export const CLOSE_WAITS_FOR_STORE_MS = 2_000;
/**
 * How long the SDK keeps waiting for one getToken call across attempts: an attempt that gives up aborts
 * the call's signal, but the next attempt waits for the same call rather than queue another at a backend
 * that is slow already. Unanswered this long, the call is taken for hung and the next attempt calls again.
 */
export const GET_TOKEN_CALL_MAX_MS = 30_000;
/**
 * Most documents the relay does not have (yet) that one peer may `load` and be subscribed to; further loads
 * of unknown ids are answered but hold no subscription, so no frame can make the relay write a row per id.
 */
export const MAX_WAITING_LOADS_PER_PEER = 256;
/** Most live documents one agent may have created in one group (the group's storage is shared by all). */
export const MAX_DOCS_PER_AGENT = 25_000;
/** Most sessions one agent may write in one group, over all its live documents. */
export const MAX_SESSIONS_PER_AGENT = 100_000;
/**
 * Most bytes one agent may have stored in one group: its transactions' over all its sessions of live
 * documents (their data as the relay stores it: text as its JSON literal, escapes included, bytes as
 * base64; and STORED_BYTES_PER_TRANSACTION each), and the stored snapshots' data it
 * took (one per document, up to MAX_SNAPSHOT_BYTES each). A tenth of the 10 GB a Durable Object's SQLite may hold.
 */
export const MAX_BYTES_PER_AGENT = 1024 * 1024 * 1024;
/**
 * What each stored transaction counts against MAX_BYTES_PER_AGENT beyond its data: what a transaction takes
 * on the relay's disk with no data at all. Counted by its data alone, an empty transaction cost nothing, and
 * one member could fill the group's object with them (400,000 in 3 s took 11 MiB, counted as 0 bytes), after
 * which every member's writes fail. A transaction is stored as `[at,data]` in its session's chunks
 * (worker/transaction-chunks.ts), and the last of each signed batch carries the batch's signature:
 * `[1700000000000,"","<86 characters>"]`, about 108 bytes, with a comma and its share of the chunk's row.
 * Measured with `ctx.storage.sql.databaseSize` in workerd, 10,000 empty (or one-byte) transactions sent one
 * to a message grew the database by 114 bytes each; sent 2,000 to a message, by 20 each. The count takes the
 * larger, which is also how the SDK sends while someone types (a frame every 10 ms at most, so a keystroke
 * goes alone): no way of sending takes more room beside its data than is counted (the data is counted as
 * stored: core/store.ts's storedDataBytes), and batched transactions count high by about
 * 90 bytes each. Pruning after a snapshot gives none of it back, as it gives back none of their data.
 */
export const STORED_BYTES_PER_TRANSACTION = 114;
/** Most messages in one `batch` frame (whose size is bounded by MAX_FRAME_BYTES too); each is atomic on its own. */
export const MAX_MESSAGES_PER_BATCH = 10_000;
/** Most documents whose known state one `open` may carry. */
export const MAX_DOCS_PER_OPEN = 20_000;
/**
 * Most documents, and transactions, the relay streams for one `open` in one event; the rest follows in
 * later events, so other peers' frames are handled in between.
 */
export const OPEN_SLICE_DOCS = 200;
export const OPEN_SLICE_ROWS = 5_000;
/** Most transactions the relay streams for one `load` in one event; the rest follows in later events. */
export const LOAD_SLICE_ROWS = 2_000;
/**
 * How the relay's SQLite store packs a session log: a row (a chunk) holds at most this many transactions,
 * and is closed once its text passes CHUNK_ROW_CHARS, so it stays far under the 2 MB a value may hold even
 * with a largest transaction in it. Fewer, larger rows are fewer rows read and written (and billed).
 */
export const CHUNK_ROW_TRANSACTIONS = 256;
export const CHUNK_ROW_CHARS = 32 * 1024;
/**
 * Work one alarm event spends pruning transactions covered by snapshots (worker/sqlite-store.ts): stored rows
 * deleted plus sessions visited. A long document's pruning goes on over several alarm events.
 */
export const PRUNE_WORK_PER_EVENT = 100;
/** Most documents the relay lists for one `dir` in one event; the listing continues in later events. */
export const DIR_SLICE_DOCS = 1_000;
/**
 * Rows read and documents listed per alarm event over all peers' long answers still streaming (each slice
 * within the bounds above): an alarm runs slices, a peer at a time in turn, until this much is out.
 */
export const STREAM_WORK_PER_EVENT = 5_000;
/**
 * Most transactions of a `load` sent in the event that asked (as many slices as fit), before the rest
 * waits for an alarm. 10,000 stored transactions cost the relay about 4 ms of CPU in workerd, 6–8 ms
 * compressed, since they are served from their stored text: about what 5,000 cost before.
 */
export const LOAD_FIRST_EVENT_ROWS = 10_000;
/**
 * Memory a group's object spends keeping the answers it sent fresh clients, so the next fresh client of the
 * same document is sent them again without reading, packing or compressing anything (worker/core/load-cache.ts):
 * counted as twice the answers' data (the messages and their encoding) and a little more
 * (worker/core/delta-stream.ts), other documents' least recently used out first. A document of 10,000
 * transactions of 100 bytes counts 2.8 MB (2.55 MiB of the isolate's heap, measured). A slice of an answer
 * weighing over half of it is not kept.
 */
export const LOAD_CACHE_BYTES = 4 * 1024 * 1024;
/**
 * Most long answers (loads, open parts, directory listings) one peer may have queued, counted in entries
 * of the known state they hold in memory: one per answer, plus one per document and per session count it
 * carries. An SDK opening 20,000 documents of two sessions each queues about 60,000. Counted once a second
 * answer waits behind the first (one message alone is bounded by its frame). Past it the peer is
 * refused with `busy` and disconnected, which frees everything it had queued.
 */
export const MAX_QUEUED_STREAM_ENTRIES_PER_PEER = 100_000;
/**
 * Most bytes of long answers (loads, open parts, directory listings: their frames as they go, a large one
 * compressed if the peer inflates) the relay sends one peer beyond what the peer has confirmed reading.
 * workerd has no WebSocket.bufferedAmount (cloudflare/workerd#988), so without it what a peer does not read
 * piles up in the object's memory (40 loads of a 9 MB document from one peer that never read took workerd
 * from 143 MB to 913 MB in a second; an object has 128 MB). A peer confirms by echoing the relay's `mark`
 * messages (`marked`); its answers pause at the window and go on at the echo. 1 MiB: a hundred peers that do
 * not read hold less than the object's memory, and at 100 ms of round trip a peer that reads still gets 10 MB
 * a second on the wire; one that inflates, as much more of the answer as compression saves (about ten times,
 * for text: a cold load of 10,000 transactions of 100 bytes, 1.1 MB as built, is 90 KB compressed and goes
 * without a pause).
 */
export const ANSWER_WINDOW_BYTES = 1024 * 1024;
/**
 * The relay puts a `mark` in a peer's answers every this many bytes: half a window, so the echo of one comes
 * back while the next half is on its way and a peer that reads at once never waits.
 */
export const ANSWER_MARK_BYTES = ANSWER_WINDOW_BYTES / 2;
/**
 * Most bytes of all frames to one peer (answers, live content, presence, notices, acks: as the runtime holds
 * them, UTF-8 as built or, a large frame to a peer that inflates, compressed) the relay lets go unconfirmed
 * before it cuts the peer off with `too_slow`. Without a bound a peer that does not read made the object hold
 * everything others wrote (60 paused sockets of one agent, 15 MB written: about 700 MiB of workerd; an object
 * has 128 MB). Marks go out along live frames too, so a peer that reads confirms them as it goes. Live
 * content stops at LAGGING_UNREAD_BYTES (and one frame), so what reaches this is the small frames on top
 * (acks, presence, notices): a peer cut off by it does not read at all. A per-peer bound: N peers that do not
 * read still hold up to N times it until each is cut off.
 */
export const MAX_UNREAD_BYTES = 4 * ANSWER_WINDOW_BYTES;
/**
 * Bytes a peer may leave unconfirmed before live content for it stops: what others write then waits in
 * storage, and the peer is caught up from there once it reads (as a load, within its window), so a reader
 * that falls behind a burst (a busy object hands it one socket's frames back to back, so a reader's echoes
 * wait behind a writer's burst) is neither cut off nor held in memory. 2 MiB: a full window of answers and
 * as much live content on top, what a reader 200 ms away takes in at 10 MB/s; a live frame (under
 * MAX_FRAME_BYTES) past it still leaves room for acks and presence below MAX_UNREAD_BYTES.
 */
export const LAGGING_UNREAD_BYTES = 2 * ANSWER_WINDOW_BYTES;
/**
 * Most bytes of its own writes (as the frames carry them: JSON-escaped data, and WIRE_BYTES_PER_TRANSACTION
 * each) one client has sent to a group and not yet had acked, over all its documents; once a push used it
 * all, more waits until nearly all is acked (client/core/push.ts: roomInFlight). A busy object is handed one
 * socket's frames back to back, so the marks a reader echoes wait behind a writer that keeps it busy: a
 * writer that sent 48 MB at once had a reader that read pass MAX_UNREAD_BYTES, unconfirmed, and cut off.
 * Sent 1 MiB at a time, a burst leaves the object idle for a round trip between two, and it reads its
 * other sockets; 1 MiB a round trip is still 10 MiB/s of writes 100 ms away.
 */
export const MAX_IN_FLIGHT_BYTES = MAX_UNREAD_BYTES / 4;
/** Seconds a peer cut off with `too_slow` should wait before connecting again: it resumes, so soon. */
export const RETRY_AFTER_TOO_SLOW_SECONDS = 1;
/**
 * Frames a second one socket may send the relay, over any second (a token bucket refilled at this rate, of
 * FRAME_BURST_PER_PEER tokens), before it is closed with `too_many_frames`. Every frame the runtime does not
 * answer itself wakes the group's object, which handles its sockets one frame at a time: one peer sending
 * 208,000 tiny frames a second held every other peer's acks for seconds (append to ack from 4 ms to 6 s);
 * a ping costs the object some 30 µs, so 200 a second are well under 1% of it.
 * An honest SDK client never comes near it: whatever one tick queues leaves as one frame (a few past
 * CHUNK_TARGET_BYTES), a document has one partial frame in flight at a time, presence is rate limited, and
 * the SDK paces its frames to half of this (SDK_FRAMES_PER_SECOND) whatever the app does. The check is
 * counted in memory before a frame is parsed, so a socket over it costs the object almost nothing.
 */
export const FRAMES_PER_SECOND_PER_PEER = 200;
/** Frames one socket may send the relay at once, on top of FRAMES_PER_SECOND_PER_PEER (a connection's resume, its catch-up's echoes). */
export const FRAME_BURST_PER_PEER = 400;
/**
 * The SDK's own bound on the frames it sends one group's socket (client/frame-pace.ts): half the relay's rate
 * and a quarter of its burst, so neither a network that bunches frames on the way nor a flush of several
 * large frames at once reaches the relay's bound. Past it a flush waits for the pace, and what the app does
 * meanwhile travels in the same frame: an app appending to many documents in separate ticks loses nothing
 * but a few milliseconds.
 */
export const SDK_FRAMES_PER_SECOND = FRAMES_PER_SECOND_PER_PEER / 2;
export const SDK_FRAME_BURST = FRAME_BURST_PER_PEER / 4;
/**
 * Seconds a socket closed with `too_many_frames` should wait before connecting again: an honest client never
 * is, so the wait is for a peer flooding the relay, long enough that reconnecting to flood again costs it.
 */
export const RETRY_AFTER_TOO_MANY_FRAMES_SECONDS = 5;
/** Most `dir` and `open` messages one frame may carry together (each starts a listing of the group). */
export const MAX_LISTINGS_PER_FRAME = 16;
/** Most documents one `dir` frame lists; larger directories arrive in several frames. */
export const MAX_DOCS_PER_DIR_FRAME = 500;
/** Largest encoded document header (meta included), in UTF-8 bytes. */
export const MAX_HEADER_BYTES = 4 * 1024;
/**
 * Deepest nesting of the JSON a client chooses the shape of (a header's `meta`, a presence state): arrays
 * and objects inside one another, the value itself at depth 1. Code that walks such JSON (hashing a
 * header, measuring a state) recurses; past this it is refused as `bad_header` or `bad_frame` instead.
 */
export const MAX_JSON_DEPTH = 32;
/** Longest token (from the app's backend, in a hello) in characters. */
export const MAX_TOKEN_CHARS = 8192;
/**
 * Shortest HS256 secret (WEFT_TOKEN_SECRET, the one mintToken signs with), in UTF-8 bytes. RFC 7518 §3.2
 * asks for a key of at least the hash's size, 256 bits: a short secret is found by trying keys against one
 * token, and whoever finds it mints admin tokens for any group. `openssl rand -base64 32` makes one.
 */
export const MIN_TOKEN_SECRET_BYTES = 32;
/**
 * How far ahead of the relay's clock the clock of the backend that minted a token may be, in seconds. Many
 * JWT libraries mint `nbf = iat = now` by default, so a backend only 2 s ahead would otherwise mint tokens
 * the relay takes for not valid yet, and the SDK closes the group on such a refusal. So a token is valid
 * from this long before its `nbf`, its `iat` may be this far ahead, and a token without `iat`, whose
 * lifetime is counted from the relay's now (`exp` − now), may live this much past the relay's maximum.
 * `exp` gets none: an expired token is refused as `token_expired`, and the SDK asks for a fresh one.
 */
export const TOKEN_CLOCK_LEEWAY_SECONDS = 60;
/** Longest identifier (group, document, session) in characters. */
export const MAX_ID_LENGTH = 128;
/** Seconds a peer refused for load should wait before retrying (also the Retry-After of a socket whose group's object the platform found overloaded). */
export const RETRY_AFTER_BUSY_SECONDS = 5;
/** Seconds a socket is asked to wait when the platform could not reach its group's object (restarting, moving), though not overloaded. */
export const RETRY_AFTER_UNAVAILABLE_SECONDS = 1;
/**
 * How long (ms) the SDK waits before asking again a relay that refused its protocol version
 * (`unsupported_version`). Meanwhile the group stays usable as offline: writes are saved locally and go once
 * a relay of its version answers. The refusal lasts until one side changes (the app's bundle updates, the
 * relay is rolled back), which takes minutes to days, so a long wait misses little; a short one would have
 * every outdated client of a fleet knock at the relay's objects, and wake them, every 30 s for nothing.
 */
export const UNSUPPORTED_VERSION_RETRY_MS = 10 * 60 * 1000;

// Presence (see worker/core/presence.ts): ephemeral, so bounded by what a WebSocket attachment holds
// (2,048 bytes in production, with the peer's own record beside it).
/** Most bytes (UTF-8 JSON) of one peer's presence states, all its documents together. */
export const PRESENCE_MAX_BYTES = 1024;
/** Most documents of a group one peer shows presence in at once. */
export const PRESENCE_MAX_DOCS_PER_PEER = 4;
/** Presence messages one peer may send per second, sustained; beyond the burst they are dropped. */
export const PRESENCE_UPDATES_PER_SECOND = 20;
/** Presence messages one peer may send at once before the per-second rate applies. */
export const PRESENCE_BURST = 40;
/** Most peers' states one relay `presence` message carries (a snapshot of more comes as several). */
export const MAX_PRESENCE_PEERS_PER_FRAME = 64;
/**
 * The SDK pings at least this often (ms) whatever it hears, so the relay can tell a peer that vanished without
 * a close (a laptop asleep, Wi-Fi gone: a half-open socket the runtime may not notice for minutes) from one
 * that merely has nothing to say. The runtime answers these pings without waking the object.
 */
export const PRESENCE_PING_MS = 15_000;
/**
 * A peer that pings (its hello says so) and shows presence is taken for gone after this long (ms) with
 * neither a frame nor a ping. Not y-protocols' 30 s: a browser tab hidden for a while runs its timers at most
 * once a minute (Chrome's intensive wake-up throttling), so its pings come a minute apart, and a limit under
 * that would close every such tab's socket each minute. Its socket is closed (1001), so its readers hear it
 * left, and a client that was only slow connects again and shows its presence anew.
 */
export const PRESENCE_SILENT_MS = 90_000;
/**
 * FileLocalStore rewrites a document's file whole (compaction) once what was appended to it since it was
 * last written whole is more than it held then, and at least this much; and at a snapshot saved into a
 * file this big. Below it a file's replayed lines cost less than rewriting them. (At 64 KiB, a group of
 * many small documents kept every save ever made: 255 bytes an acknowledged keystroke, against 117.)
 */
export const FILE_COMPACT_MIN_BYTES = 16 * 1024;
/**
 * IndexedDbLocalStore replaces a document's records by one (compaction) at a snapshot saved, and once this
 * many have gathered without one: the records a load found, and the saves since (each acknowledged
 * keystroke is two: the write, then the relay's ack).
 */
export const INDEXEDDB_COMPACT_SAVES = 1_000;
/** Transactions per line of a file written whole: a line damaged on the disk loses at most these. */
export const FILE_LINE_TRANSACTIONS = 256;
/**
 * A FileLocalStore load that finds a document file's last line not whole reads the file again this often
 * (ms), before it tells the line lost: another process may be writing that save right now (one write of
 * a few hundred bytes, microseconds, unless a busy machine holds the writer back for a while).
 */
export const FILE_TORN_LINE_RECHECK_MS = 5;
/** How long (ms) such a last line must stay as it is, the file not growing, before the load tells it cut short. */
export const FILE_TORN_LINE_STILL_MS = 25;
/** How long a load reads again a file whose last line is not whole while the file grows (a large save being written). */
export const FILE_TORN_LINE_WAIT_MS = 200;
/**
 * How long a FileLocalStore save waits for another store's compaction of its file to end (it takes
 * milliseconds), and a lease for another process's work that needs the folder to itself (unsent.jsonl
 * started again), before going on.
 */
export const FILE_COMPACTION_WAIT_MS = 30_000;
/**
 * FileLocalStore's `unsent.jsonl` (announcements of writes a closing client leaves unsent, for the clients
 * live at that moment) starts again from the next announcement once it holds more than this, unless another
 * process holds a lease on the folder: about 1,300 announcements of one document.
 */
export const UNSENT_FILE_MAX_BYTES = 64 * 1024;
