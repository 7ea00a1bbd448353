/**
 * A desktop notification as a process to run (`--notify`): `notify-send` (libnotify, over
 * the session's D-Bus) on Linux and other Unixes, `osascript` on macOS. Null when there is
 * no desktop to show it on (a server, a daemon started outside a graphical session).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DesktopCommand {
  file: string;
  args: string[];
  /** What the notifier needs in its environment beyond the hook's own (the session bus found in XDG_RUNTIME_DIR). */
  env: Record<string, string>;
}

export type Urgency = 'normal' | 'critical';

export function desktopNotification(
  title: string,
  body: string,
  urgency: Urgency,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): DesktopCommand | null {
  if (platform === 'darwin') {
    // Title and body as arguments of the script, never spliced into its text: no quoting to get wrong.
    return {
      file: 'osascript',
      args: ['-e', 'on run argv', '-e', 'display notification (item 2 of argv) with title (item 1 of argv)', '-e', 'end run', title, body],
      env: {},
    };
  }
  const bus = sessionBus(env);
  if (!bus && !env.DISPLAY && !env.WAYLAND_DISPLAY) return null;
  // `--` ends the options: a job name or summary that starts with `-` is text.
  return {
    file: 'notify-send',
    // Notification servers read the body as markup (<a href>, <img>): a provider's text is escaped, never a link.
    args: ['--app-name=globus-timer', `--urgency=${urgency}`, '--', title, escapeMarkup(body)],
    env: bus && !env.DBUS_SESSION_BUS_ADDRESS ? { DBUS_SESSION_BUS_ADDRESS: bus } : {},
  };
}

/**
 * The session bus: DBUS_SESSION_BUS_ADDRESS, or systemd's per-user bus socket at
 * $XDG_RUNTIME_DIR/bus (a user service often runs without the variable, but with the socket).
 */
function sessionBus(env: NodeJS.ProcessEnv): string | null {
  if (env.DBUS_SESSION_BUS_ADDRESS) return env.DBUS_SESSION_BUS_ADDRESS;
  if (!env.XDG_RUNTIME_DIR) return null;
  const socket = path.join(env.XDG_RUNTIME_DIR, 'bus');
  try {
    return fs.statSync(socket).isSocket() ? `unix:path=${socket}` : null;
  } catch {
    return null;
  }
}

/** `&`, `<`, `>` as entities: the freedesktop notification body markup, shown as text. */
function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
