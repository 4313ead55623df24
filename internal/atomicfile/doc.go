// Package atomicfile writes a file so that readers see either the old file
// or the complete new one, never a part: the content goes to a temporary
// file in the same directory, is synced, and is renamed over the target.
// On any error the temporary file is removed and the target is untouched.
package atomicfile
