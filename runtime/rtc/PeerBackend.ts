/**
 * What the peer-session executor needs from a WebRTC implementation: werift on the hub
 * (runtime/rtc/werift.ts) and the browser's RTCPeerConnection (runtime/browser/nativePeer.ts)
 * both provide it. Types, and the few helpers both adapters share (they use no API but the W3C
 * one werift mirrors), so the executor runs in Node and in the browser alike.
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
  /** A message on `events` (text) or `sync` (binary y-protocols frames, runtime/rtc/peerChannels.ts). */
  message(label: ChannelLabel, data: string | Uint8Array): void
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
  send(label: ChannelLabel, data: string | Uint8Array): boolean
  /**
   * Everything sent on the data channels has been acknowledged by the remote's transport (its
   * SCTP). Optional (werift can tell; a browser cannot): the probe's idle pings go quiet with it.
   */
  delivered?(): boolean
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

/** The part of a data channel, werift's or the browser's, that the shared helpers use. */
export interface RawChannel<D> {
  readonly label: string
  readonly readyState: string
  readonly bufferedAmount: number
  send(data: D): void
  close(): void
}

/** Sends on a channel that is open: false when it is not, or when the send throws (it is closing). */
export function sendIfOpen<D>(dc: Pick<RawChannel<D>, 'readyState' | 'send'> | undefined, data: D): boolean {
  if (dc?.readyState !== 'open') return false
  try {
    dc.send(data)
    return true
  } catch {
    return false
  }
}

/**
 * A `ChannelHandle` over a raw channel, without its events (each adapter wires those: the browser
 * with `on*` properties, werift with subscriptions). `toRaw` turns bytes into what the channel sends.
 */
export function channelHandle<D>(dc: RawChannel<D>, toRaw: (data: string | Uint8Array) => D): ChannelHandle {
  return {
    label: dc.label,
    get open() {
      return dc.readyState === 'open'
    },
    bufferedAmount: () => dc.bufferedAmount,
    send: (data) => sendIfOpen(dc, toRaw(data)),
    close: () => dc.close(),
  }
}

/** The `PeerHandle` methods on the two negotiated channels, alike for both adapters. */
export function negotiatedChannels<D>(
  channels: Map<ChannelLabel, Pick<RawChannel<D>, 'readyState' | 'send'>>,
  toRaw: (data: string | Uint8Array) => D,
): Pick<PeerHandle, 'send' | 'channelOpen'> {
  return {
    send: (label, data) => sendIfOpen(channels.get(label), toRaw(data)),
    channelOpen: (label) => channels.get(label)?.readyState === 'open',
  }
}

/** The part of an RTCPeerConnection, werift's or the browser's, that the shared helpers use. */
export interface RawPeer {
  readonly signalingState: string
  createOffer(opts: { iceRestart: boolean }): Promise<any>
  setLocalDescription(d: { type: 'rollback' }): Promise<unknown>
}

/** Drops a local offer not yet answered (perfect negotiation's polite side gives way). */
export async function rollbackLocalOffer(pc: Pick<RawPeer, 'signalingState' | 'setLocalDescription'>): Promise<void> {
  if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' })
}

/**
 * The offering side of a `PeerHandle`, alike for both adapters: its id and signaling state, an
 * offer made after the transceivers' directions are set, and rollback. `describe` sets a local
 * description and returns the SDP to signal (werift's is edited first; the browser's goes as set).
 */
export function offerMethods(
  peerSessionId: string,
  pc: RawPeer,
  applyDirections: (shape: MediaShape) => void,
  describe: (description: unknown) => Promise<string>,
): Pick<PeerHandle, 'peerSessionId' | 'signalingState' | 'createOffer' | 'rollback'> {
  return {
    peerSessionId,
    signalingState: () => pc.signalingState,
    async createOffer({ iceRestart, shape }) {
      applyDirections(shape)
      return describe(await pc.createOffer({ iceRestart }))
    },
    rollback: () => rollbackLocalOffer(pc),
  }
}

/** A local media source (camera, microphone, screen). */
export interface MediaTrackSource {
  acquire(
    kind: 'microphone' | 'camera' | 'screen',
  ): Promise<{ track: unknown; stop(): void; onEnded(fn: () => void): void }>
}
