/**
 * The live feed connection: reconnects by itself with backoff, resumes after the last
 * event it handed on (so nothing is lost or shown twice), and says when it is offline.
 */
import { parseLiveMessage, type LiveEvent } from './events'
import { backoffMs, liveUrl, ResumePoint } from './resume'

export type FeedState = 'connecting' | 'online' | 'offline'

export interface FeedHandlers {
  onEvent(event: LiveEvent): void
  /** Too much was missed: refetch everything shown, then carry on. */
  onReload(): void
  onState(state: FeedState): void
  /** The session ended (close code 4401): sign in again. */
  onSignedOut(): void
}

type SocketFactory = (url: string) => WebSocket

const SIGNED_OUT = 4401
const NO_MEMBERSHIP = 4403

export class LiveFeed {
  private socket: WebSocket | null = null
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | null = null
  private stopped = false
  readonly resume: ResumePoint
  private readonly handlers: FeedHandlers
  private readonly location: Pick<Location, 'protocol' | 'host'>
  private readonly open: SocketFactory

  constructor(
    handlers: FeedHandlers,
    location: Pick<Location, 'protocol' | 'host'> = window.location,
    open: SocketFactory = (url) => new WebSocket(url),
    resume: ResumePoint = new ResumePoint(),
  ) {
    this.handlers = handlers
    this.location = location
    this.open = open
    this.resume = resume
  }

  start(): void {
    this.stopped = false
    this.connect()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.socket?.close(1000)
    this.socket = null
  }

  private connect(): void {
    this.handlers.onState(this.attempt === 0 ? 'connecting' : 'offline')
    const socket = this.open(liveUrl(this.location, this.resume.lastEventId))
    this.socket = socket
    socket.onmessage = (message) => this.receive(String(message.data))
    socket.onclose = (close) => this.closed(socket, close.code)
  }

  private receive(data: string): void {
    const message = parseLiveMessage(data)
    if (!message) return
    if (message.type === 'ready') {
      this.attempt = 0
      this.resume.start(message.lastEventId)
      this.handlers.onState('online')
    } else if (message.type === 'event') {
      if (this.resume.accept(message)) this.handlers.onEvent(message)
    } else if (message.type === 'reload') {
      this.resume.reset(null)
      this.handlers.onReload()
    }
  }

  private closed(socket: WebSocket, code: number): void {
    if (socket !== this.socket || this.stopped) return
    this.socket = null
    if (code === SIGNED_OUT) {
      this.handlers.onState('offline')
      this.handlers.onSignedOut()
      return
    }
    if (code === NO_MEMBERSHIP) this.resume.reset(null)
    this.handlers.onState('offline')
    this.timer = setTimeout(() => this.connect(), backoffMs(this.attempt++))
  }
}
