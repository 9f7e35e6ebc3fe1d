package plugin

import (
	"fmt"
	"path"
	"strings"
)

// hasGlob says whether a --to part names contexts by a pattern.
func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// expandWaves turns --to values into the environments of each wave: every value is
// a wave, a comma list of environments; an environment's context (CONTEXT, or the
// first part of CONTEXT/NAMESPACE/NAME) may be a glob, which becomes every context
// it matches, sorted. A context that does not exist, or a glob that matches none, is
// an error listing the contexts there are. NAMESPACE/NAME (the current context) is
// left as it is.
func expandWaves(given []string, contexts []string) ([][]string, error) {
	known := map[string]bool{}
	for _, c := range contexts {
		known[c] = true
	}
	list := func() string {
		if len(contexts) == 0 {
			return "the kubeconfig has no contexts"
		}
		return "contexts: " + strings.Join(contexts, ", ")
	}
	waves := make([][]string, 0, len(given))
	seen := map[string]int{}
	for wi, value := range given {
		var wave []string
		for _, part := range strings.Split(value, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return nil, fmt.Errorf("--to %q: an empty environment in the list", value)
			}
			ctxPart, rest := part, ""
			if n := strings.Count(part, "/"); n == 1 {
				if hasGlob(part) {
					return nil, fmt.Errorf("--to %q: a glob names contexts; write CONTEXT-GLOB or CONTEXT-GLOB/NAMESPACE/NAME", part)
				}
				wave = append(wave, part)
				continue
			} else if n >= 2 {
				i := strings.Index(part, "/")
				ctxPart, rest = part[:i], part[i:]
			}
			var matched []string
			if hasGlob(ctxPart) {
				if _, err := path.Match(ctxPart, ""); err != nil {
					return nil, fmt.Errorf("--to %q: bad glob: %v", part, err)
				}
				for _, c := range contexts {
					if ok, _ := path.Match(ctxPart, c); ok {
						matched = append(matched, c)
					}
				}
				if len(matched) == 0 {
					return nil, fmt.Errorf("--to %q matches no kubeconfig context; %s", part, list())
				}
			} else {
				if !known[ctxPart] {
					return nil, fmt.Errorf("--to %q: no kubeconfig context %q; %s", part, ctxPart, list())
				}
				matched = []string{ctxPart}
			}
			for _, c := range matched {
				env := c + rest
				if w, dup := seen[env]; dup {
					if w == wi+1 {
						return nil, fmt.Errorf("--to: %s is named twice in wave %d (%q)", env, wi+1, value)
					}
					return nil, fmt.Errorf("--to: %s is in waves %d and %d; a target is promoted once", env, w, wi+1)
				}
				seen[env] = wi + 1
				wave = append(wave, env)
			}
		}
		waves = append(waves, wave)
	}
	return waves, nil
}
