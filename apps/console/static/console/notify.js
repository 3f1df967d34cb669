// Sound (WebAudio) and browser notifications for what concerns this agent.

let audio = null;

function audioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (!audio) audio = new Context();
  return audio;
}

// Browsers only start audio after a user gesture: unlock it on the first one.
export function unlockAudioOnGesture() {
  const unlock = () => {
    const ctx = audioContext();
    if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
    window.removeEventListener("pointerdown", unlock);
    window.removeEventListener("keydown", unlock);
  };
  window.addEventListener("pointerdown", unlock);
  window.addEventListener("keydown", unlock);
}

export function chime() {
  const ctx = audioContext();
  if (!ctx || ctx.state !== "running") return;
  const now = ctx.currentTime;
  for (const [offset, freq] of [[0, 880], [0.14, 1320]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + offset);
    gain.gain.exponentialRampToValueAtTime(0.15, now + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.25);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + offset);
    osc.stop(now + offset + 0.3);
  }
}

export function notificationsSupported() {
  return "Notification" in window;
}

export function notificationsPermission() {
  return notificationsSupported() ? Notification.permission : "unsupported";
}

export async function requestNotifications() {
  if (!notificationsSupported()) return "unsupported";
  return Notification.requestPermission();
}

/** Show a browser notification (title and body are plain text to the OS). */
export function showNotification(title, body, onClick) {
  if (notificationsPermission() !== "granted") return null;
  try {
    const notification = new Notification(title, { body, tag: title + body });
    notification.onclick = () => {
      window.focus();
      if (onClick) onClick();
      notification.close();
    };
    return notification;
  } catch {
    return null;
  }
}
