/**
 * What the peer-session executor needs from a WebRTC implementation: werift on the hub
 * (runtime/rtc/werift.ts) and the browser's RTCPeerConnection (runtime/browser/nativePeer.ts)
 * both provide it. Types only, so the executor runs in Node and in the browser alike.
 */
import type { IceCandidateInit, MediaShape, MediaSlot } from '../../protocol/signaling.ts'

/** The two channels every peer has for its whole life (negotiated, ids 0 and 1). */
export const CHANNELS = { events: 0, sync: 1 } as const
export type ChannelLabel = keyof typeof CHANNELS

export interface ChannelHandle {
  readonly label: string
  readonly open: boolean
  bufferedAmount(): number
  send(data: string | Uint8Array): boolean
  close(): void
  onopen?: () => void
  onclose?: () => void
  onmessage?: (data: string | Uint8Array) => void
}

export interface PeerCallbacks {
  candidate(c: IceCandidateInit): void
  channelOpen(label: ChannelLabel): void
  channelClose(label: ChannelLabel): void
  message(label: ChannelLabel, data: string): void
  /** A remote track arrived on a slot's transceiver. */
  track(slot: MediaSlot, track: unknown): void
  /** The remote opened a channel of its own (file uploads). */
  dataChannel(ch: ChannelHandle): void
  /** The peer's ICE connection state changed (`checking`, `connected`, `completed`, `failed`, ...). */
  iceState?(state: string): void
}

export interface PeerHandle {
  readonly peerSessionId: string
  signalingState(): string
  /** Creates an offer and sets it as the local description; returns its SDP. */
  createOffer(opts: { iceRestart: boolean; shape: MediaShape }): Promise<string>
  /** Sets a remote offer (rolling back a local offer first when asked); returns the answer set locally. */
  applyOffer(sdp: string, opts: { rollback: boolean; shape: MediaShape }): Promise<string>
  applyAnswer(sdp: string): Promise<void>
  rollback(): Promise<void>
  addCandidate(c: IceCandidateInit): Promise<void>
  send(label: ChannelLabel, text: string): boolean
  channelOpen(label: ChannelLabel): boolean
  replaceTrack(slot: MediaSlot, track: unknown | null): Promise<void>
  remoteTrack(slot: MediaSlot): unknown | undefined
  openChannel(label: string): ChannelHandle
  close(): void
}

export interface PeerBackend {
  /**
   * A new peer. `ownsTransceivers`: this side creates one transceiver per media slot up front (the
   * member); the other side (the hub) uses those the offers bring and keeps them `sendrecv`.
   */
  createPeer(peerSessionId: string, cb: PeerCallbacks, opts: { ownsTransceivers: boolean }): PeerHandle
}

/** A local media source (camera, microphone, screen). */
export interface MediaTrackSource {
  acquire(
    kind: 'microphone' | 'camera' | 'screen',
  ): Promise<{ track: unknown; stop(): void; onEnded(fn: () => void): void }>
}
