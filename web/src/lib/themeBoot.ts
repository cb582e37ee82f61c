// The inline script of the root layout (a server component, so not in the "use client" lib/theme.ts):
// <html data-theme> from the stored choice before the first paint.
export const THEME_KEY = "jvp.theme";
export const THEME_BOOT = `try{var c=localStorage.getItem("${THEME_KEY}");var d=c==="dark"||(c!=="light"&&matchMedia("(prefers-color-scheme: dark)").matches);document.documentElement.dataset.theme=d?"dark":"light"}catch(e){}`;
