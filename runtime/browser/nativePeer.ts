/**
 * The browser's PeerBackend: the native RTCPeerConnection, made to behave like the werift
 * adapter for the peer-session executor. The member owns one transceiver per media slot
 * (created once per peer, `inactive` until a subflow publishes), and the negotiated `events` and
 * `sync` channels. Browser only (no imports beyond types and protocol/).
 */
import { MEDIA_SLOTS, type MediaShape, type MediaSlot } from '../../protocol/signaling.ts'
import { CHANNELS, channelHandle, negotiatedChannels, offerMethods, rollbackLocalOffer } from '../rtc/PeerBackend.ts'
import type { ChannelHandle, ChannelLabel, MediaTrackSource, PeerBackend } from '../rtc/PeerBackend.ts'
import type { PeerCallbacks, PeerHandle, RawChannel, RawPeer } from '../rtc/PeerBackend.ts'

const SLOT_KIND: Record<MediaSlot, 'audio' | 'video'> = { microphone: 'audio', camera: 'video', screen: 'video' }

function wrap(dc: RTCDataChannel): ChannelHandle {
  dc.binaryType = 'arraybuffer'
  const raw = dc as unknown as RawChannel<string | Uint8Array>
  const h = channelHandle(raw, (data) => data)
  dc.onopen = () => h.onopen?.()
  dc.onclose = () => h.onclose?.()
  dc.onmessage = (e) => h.onmessage?.(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer))
  if (dc.readyState === 'open') queueMicrotask(() => h.onopen?.())
  return h
}

export function nativeBackend(config: RTCConfiguration = { iceServers: [] }): PeerBackend {
  return {
    createPeer(peerSessionId: string, cb: PeerCallbacks, { ownsTransceivers }): PeerHandle {
      const pc = new RTCPeerConnection(config)
      let closed = false
      const slots = new Map<MediaSlot, RTCRtpTransceiver>()
      if (ownsTransceivers)
        for (const s of MEDIA_SLOTS) slots.set(s, pc.addTransceiver(SLOT_KIND[s], { direction: 'inactive' }))
      const channels = new Map<ChannelLabel, RTCDataChannel>()
      for (const [label, id] of Object.entries(CHANNELS) as [ChannelLabel, number][]) {
        const dc = pc.createDataChannel(label, { negotiated: true, id, ordered: true })
        channels.set(label, dc)
        dc.onopen = () => !closed && cb.channelOpen(label)
        dc.onclose = () => !closed && cb.channelClose(label)
        dc.binaryType = 'arraybuffer'
        dc.onmessage = (e) =>
          !closed && cb.message(label, typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer))
      }
      pc.oniceconnectionstatechange = () => {
        if (!closed) cb.iceState?.(pc.iceConnectionState)
      }
      pc.onicecandidate = (e) => {
        if (!closed && e.candidate && e.candidate.candidate) cb.candidate(e.candidate.toJSON() as any)
      }
      const slotOf = (tr: RTCRtpTransceiver): MediaSlot | undefined => {
        for (const [s, t] of slots) if (t === tr) return s
        const media = pc
          .getTransceivers()
          .filter((t) => t.receiver.track.kind === 'audio' || t.receiver.track.kind === 'video')
        const i = media.indexOf(tr)
        return i >= 0 ? MEDIA_SLOTS[i] : undefined
      }
      pc.ontrack = (e) => {
        const slot = slotOf(e.transceiver)
        if (slot && !closed) cb.track(slot, e.track)
      }
      pc.ondatachannel = (e) => {
        if (!closed && e.channel.label !== 'events' && e.channel.label !== 'sync') cb.dataChannel(wrap(e.channel))
      }
      const applyDirections = (shape: MediaShape) => {
        if (ownsTransceivers) for (const s of MEDIA_SLOTS) slots.get(s)!.direction = shape[s]
      }
      const describe = async (d: unknown) => {
        await pc.setLocalDescription(d as RTCSessionDescriptionInit)
        return pc.localDescription!.sdp
      }
      return {
        ...offerMethods(peerSessionId, pc as unknown as RawPeer, applyDirections, describe),
        async applyOffer(sdp, { rollback, shape }) {
          if (rollback) await rollbackLocalOffer(pc)
          await pc.setRemoteDescription({ type: 'offer', sdp })
          applyDirections(shape)
          return describe(await pc.createAnswer())
        },
        async applyAnswer(sdp) {
          await pc.setRemoteDescription({ type: 'answer', sdp })
        },
        async addCandidate(c) {
          await pc.addIceCandidate(c as RTCIceCandidateInit).catch(() => {})
        },
        ...negotiatedChannels<any>(channels, (data) => data),
        async replaceTrack(slot, track) {
          const tr = slots.get(slot) ?? pc.getTransceivers()[MEDIA_SLOTS.indexOf(slot)]
          if (tr) await tr.sender.replaceTrack((track as MediaStreamTrack | null) ?? null)
        },
        remoteTrack(slot) {
          const tr = slots.get(slot)
          return tr?.receiver.track
        },
        openChannel: (label) => wrap(pc.createDataChannel(label, { ordered: true })),
        close() {
          if (closed) return
          closed = true
          pc.close()
        },
      }
    },
  }
}

/** Camera and microphone from getUserMedia, the screen from getDisplayMedia. */
export function browserMedia(): MediaTrackSource {
  return {
    async acquire(kind) {
      const stream =
        kind === 'screen'
          ? await navigator.mediaDevices.getDisplayMedia({ video: true })
          : await navigator.mediaDevices.getUserMedia(
              kind === 'microphone' ? { audio: true } : { video: { width: 320, height: 240 } },
            )
      const track = stream.getTracks()[0]
      return {
        track,
        stop: () => track.stop(),
        onEnded: (fn) => track.addEventListener('ended', fn),
      }
    },
  }
}
