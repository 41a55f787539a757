package devnet

import (
	"fmt"
	"os"
	"strings"
)

// setTOML rewrites key = value inside [section] ("" is the top level) of the
// TOML file at path. The key must already be there: the node's generated
// config files list every key, so a missing one means a format change that
// must not be silently ignored. value is written as given (quote strings).
func setTOML(path string, settings []tomlSetting) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	done := make([]bool, len(settings))
	section := ""
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			section = strings.Trim(t, "[]")
			continue
		}
		k, _, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		for j, s := range settings {
			if s.section == section && s.key == k {
				lines[i] = s.key + " = " + s.value
				done[j] = true
			}
		}
	}
	for j, s := range settings {
		if !done[j] {
			return fmt.Errorf("devnet: %s has no %q in [%s]", path, s.key, s.section)
		}
	}
	return writeFileAtomic(path, []byte(strings.Join(lines, "\n")), 0o644)
}

type tomlSetting struct{ section, key, value string }

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("devnet: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("devnet: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return nil
}
