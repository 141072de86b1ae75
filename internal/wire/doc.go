// Package wire is the protocol between the host and the agent that serves a
// guest filesystem from inside the appliance VM, over one byte stream (a
// virtio-serial port on the guest side, a unix socket on the host side).
//
// # Why this design
//
// The host must treat every byte from the appliance as hostile: a crafted
// filesystem may have taken over the appliance kernel and the agent. So the
// protocol is small enough to check completely:
//
//   - Frames: a 9-byte header (payload length uint32, frame type uint8,
//     request id uint32, all big-endian) and a payload. The length is
//     checked against MaxPayload before anything is allocated.
//   - Control payloads (Hello, Request, Response, Cancel) are JSON decoded
//     into fixed Go structs: no type information comes from the peer
//     (unlike encoding/gob), unknown fields are refused, and the frame
//     bound caps what decoding can allocate. They are small and rare next
//     to the data they describe, so JSON's cost does not matter.
//   - File contents travel raw in Data frames of at most ChunkSize bytes:
//     no base64, no copy beyond one chunk buffer. An upload (WriteFile) is
//     ended by DataEnd, or by Cancel then DataEnd when the host gives it
//     up; a read asks for at most ChunkSize bytes, and the agent's
//     Response, which says whether the file has ended, follows its Data
//     frames with no DataEnd.
//   - An open is answered as a read of the file's first FirstChunkSize
//     bytes plus the file's info: when that reached the end of a file
//     whose size it matches, the agent has closed the file and gives no
//     handle, so reading a small file whole (every /etc file a plan
//     reads) is one round trip instead of open, read and close — each a
//     millisecond or more under emulation. The host refuses an end that
//     disagrees with the size, a handle with it or none without it, data
//     past the bound or for a file that is not regular, and any frame of
//     the call after its answer; a larger file reads on in ChunkSize
//     reads.
//   - Every request carries an id; Cancel names the id to stop, and the
//     agent answers every request exactly once.
//   - A Hello exchange fixes the protocol version before anything else.
//   - The host's first request is Inspect: the agent reports the guest
//     root it chose (or why it has none), its OS, every filesystem and the
//     fate of each fstab line, and the host checks every count and string
//     of that report (Inspection.Check) before using it. Its problem and
//     issue codes and its text limits are those of internal/guestabi,
//     where both sides find them.
//   - OpRun runs a guest command (Command, its limits always set) and is
//     answered with a CommandResult the host checks against what it asked
//     for (CommandResult.Check): never more output than its bound.
//   - Every list in an answer (directory entries, attribute names,
//     filesystems, fstab lines, issues) is a List with a bound: its
//     elements are counted before any is decoded, so a frame that packs
//     a million of them costs the host the bound, not the claim.
//   - A call returns when its context ends, whatever the agent does: a
//     write the agent does not take gives up, and what the stream still
//     needs — the rest of a frame cut short, then a Cancel (and the
//     DataEnd of an upload) — is sent by the next call, which drains the
//     cancelled call's answer before its own request. A slow agent so
//     keeps its connection; one that has not answered CancelGrace after
//     the cancellation loses it.
//   - Errors travel as an ErrorCode (a fixed number for each sentinel of
//     the vfs contract, see Code and Sentinel) plus the operation, guest
//     path and a message, each cut to guestabi.MaxText bytes, and become
//     *fs.PathError wrapping the same sentinel on the other side.
//
// # Tests
//
// hostile_test.go is the hostile-agent suite: a fake agent on a unix
// socket pair lies to a real Client — oversized, truncated, split and
// unknown frames, garbage, answers with wrong or repeated ids, reports
// with "..", control characters, NULs and a million entries, absurd file
// information, floods, silence, hang-ups — and each case asserts the
// error the host returns, that it returns within the call's deadline and,
// for the count lies, how much the host allocated. Its lies seed
// FuzzClient.
package wire
