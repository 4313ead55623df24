package peft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/orthotune/orthotune/model"
)

// AllLinear is the target_modules shorthand for every linear layer but the
// output head.
const AllLinear = "all-linear"

// ModuleList is a PEFT name list field (target_modules, exclude_modules,
// layers_pattern): JSON null, a string (for target/exclude: a regex that
// must match the whole module name), or a list of strings.
type ModuleList struct {
	Names   []string
	Pattern string // set when the field is a string
	IsSet   bool   // false for null / absent
}

// Names returns a list-valued ModuleList.
func Names(names ...string) ModuleList { return ModuleList{Names: names, IsSet: true} }

// Pattern returns a string-valued ModuleList.
func Pattern(p string) ModuleList { return ModuleList{Pattern: p, IsSet: true} }

// IsPattern reports whether the field was a string.
func (l ModuleList) IsPattern() bool { return l.IsSet && l.Names == nil }

// UnmarshalJSON accepts null, a string or a list of strings.
func (l *ModuleList) UnmarshalJSON(data []byte) error {
	*l = ModuleList{}
	data = bytes.TrimSpace(data)
	switch {
	case string(data) == "null":
		return nil
	case len(data) > 0 && data[0] == '"':
		l.IsSet = true
		return json.Unmarshal(data, &l.Pattern)
	default:
		var names []string
		if err := json.Unmarshal(data, &names); err != nil {
			return fmt.Errorf("want null, a string or a list of strings, got %s", data)
		}
		l.Names, l.IsSet = names, true
		if l.Names == nil {
			l.Names = []string{}
		}
		return nil
	}
}

// MarshalJSON writes null, the string, or the list.
func (l ModuleList) MarshalJSON() ([]byte, error) {
	switch {
	case !l.IsSet:
		return []byte("null"), nil
	case l.IsPattern():
		return json.Marshal(l.Pattern)
	default:
		return json.Marshal(l.Names)
	}
}

// String renders the field as it appears in messages.
func (l ModuleList) String() string {
	switch {
	case !l.IsSet:
		return "null"
	case l.IsPattern():
		return fmt.Sprintf("%q", l.Pattern)
	default:
		return fmt.Sprintf("%q", l.Names)
	}
}

// IntList is layers_to_transform: null, one integer, or a list.
type IntList struct {
	Values []int
	Single bool // the JSON was a bare integer
	IsSet  bool
}

// UnmarshalJSON accepts null, an integer or a list of integers.
func (l *IntList) UnmarshalJSON(data []byte) error {
	*l = IntList{}
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	var one int
	if err := json.Unmarshal(data, &one); err == nil {
		*l = IntList{Values: []int{one}, Single: true, IsSet: true}
		return nil
	}
	var many []int
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("want null, an integer or a list of integers, got %s", data)
	}
	*l = IntList{Values: many, IsSet: true}
	if l.Values == nil {
		l.Values = []int{}
	}
	return nil
}

// MarshalJSON writes null, the integer or the list.
func (l IntList) MarshalJSON() ([]byte, error) {
	switch {
	case !l.IsSet:
		return []byte("null"), nil
	case l.Single:
		return json.Marshal(l.Values[0])
	default:
		return json.Marshal(l.Values)
	}
}

// Targets is the part of a PEFT config that chooses which modules to adapt.
type Targets struct {
	TargetModules     ModuleList `json:"target_modules"`
	ExcludeModules    ModuleList `json:"exclude_modules"`
	LayersToTransform IntList    `json:"layers_to_transform"`
	LayersPattern     ModuleList `json:"layers_pattern"`
	ModulesToSave     []string   `json:"modules_to_save"`
}

var layerIndex = regexp.MustCompile(`^.*?\.[^.]*\.(\d+)\.`)

// compileFull compiles a Python re.fullmatch pattern for Go.
func compileFull(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// Match reports whether PEFT would adapt the module called name, following
// check_target_module_exists: exclusions win; modules_to_save are never
// adapted; a string target must match the whole name; a list matches a name
// equal to an entry, or ending in "." + entry — and only in that suffix case
// are layers_to_transform / layers_pattern applied.
func (t *Targets) Match(name string) (bool, error) {
	if t.ExcludeModules.IsSet {
		hit, err := listOrPattern(t.ExcludeModules, name)
		if err != nil {
			return false, fmt.Errorf("exclude_modules: %w", err)
		}
		if hit {
			return false, nil
		}
	}
	for _, m := range t.ModulesToSave {
		// PEFT: re.match(rf"(^|.*\.){m}($|\..*)", key), m unescaped.
		re, err := regexp.Compile(`^(?:^|.*\.)` + m + `(?:$|\..*)`)
		if err == nil && re.MatchString(name) {
			return false, nil
		}
	}
	if !t.TargetModules.IsSet {
		return false, nil
	}
	if t.TargetModules.IsPattern() {
		re, err := compileFull(t.TargetModules.Pattern)
		if err != nil {
			return false, fmt.Errorf("target_modules: regex %q: %w", t.TargetModules.Pattern, err)
		}
		return re.MatchString(name), nil
	}
	if slices.Contains(t.TargetModules.Names, name) {
		return true, nil
	}
	found := false
	for _, n := range t.TargetModules.Names {
		if strings.HasSuffix(name, "."+n) {
			found = true
			break
		}
	}
	if !found || !t.LayersToTransform.IsSet || (len(t.LayersToTransform.Values) == 0 && !t.LayersToTransform.Single) {
		return found, nil
	}
	var m []string
	if !t.LayersPattern.IsSet || (t.LayersPattern.IsPattern() && t.LayersPattern.Pattern == "") || (!t.LayersPattern.IsPattern() && len(t.LayersPattern.Names) == 0) {
		m = layerIndex.FindStringSubmatch(name)
	} else {
		patterns := t.LayersPattern.Names
		if t.LayersPattern.IsPattern() {
			patterns = []string{t.LayersPattern.Pattern}
		}
		for _, p := range patterns {
			re, err := regexp.Compile(`^.*?\.` + p + `\.(\d+)\.`)
			if err != nil {
				return false, fmt.Errorf("layers_pattern %q: %w", p, err)
			}
			if m = re.FindStringSubmatch(name); m != nil {
				break
			}
		}
	}
	if m == nil {
		return false, nil
	}
	var idx int
	fmt.Sscan(m[1], &idx)
	return slices.Contains(t.LayersToTransform.Values, idx), nil
}

func listOrPattern(l ModuleList, name string) (bool, error) {
	if l.IsPattern() {
		re, err := compileFull(l.Pattern)
		if err != nil {
			return false, fmt.Errorf("regex %q: %w", l.Pattern, err)
		}
		return re.MatchString(name), nil
	}
	for _, n := range l.Names {
		if name == n || strings.HasSuffix(name, "."+n) {
			return true, nil
		}
	}
	return false, nil
}

// ExpandAllLinear replaces the "all-linear" shorthand (any case) by the
// sorted last name components of every non-head linear layer, as PEFT does
// before matching and saving.
func (t *Targets) ExpandAllLinear(slots []*model.LinearSlot) {
	if !t.TargetModules.IsPattern() || !strings.EqualFold(t.TargetModules.Pattern, AllLinear) {
		return
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range slots {
		if s.Head {
			continue
		}
		last := s.Name[strings.LastIndex(s.Name, ".")+1:]
		if !seen[last] {
			seen[last] = true
			names = append(names, last)
		}
	}
	slices.Sort(names)
	t.TargetModules = Names(names...)
}

// Select returns the slots the targets match, in model order. Matching no
// layer is an error that lists what the model has.
func (t *Targets) Select(slots []*model.LinearSlot) ([]*model.LinearSlot, error) {
	t.ExpandAllLinear(slots)
	var out []*model.LinearSlot
	for _, s := range slots {
		ok, err := t.Match(s.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		seen := map[string]bool{}
		var have []string
		for _, s := range slots {
			last := s.Name[strings.LastIndex(s.Name, ".")+1:]
			if !seen[last] {
				seen[last] = true
				have = append(have, last)
			}
		}
		return nil, fmt.Errorf("target_modules %s (exclude_modules %s, layers_to_transform %v) match no linear layer of the model; its linear layers are named %s",
			t.TargetModules, t.ExcludeModules, t.LayersToTransform.Values, strings.Join(have, ", "))
	}
	return out, nil
}
