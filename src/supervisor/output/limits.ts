/** Longest line written as one record; longer ones are cut into pieces marked `partial`. */
export const MAX_LINE_CHARS = 64 * 1024;
