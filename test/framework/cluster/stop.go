package cluster

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

// Stop tears the cluster down and leaves the machine as it was: the pods'
// processes are killed (kubelet first, so nothing restarts them), then every
// process Start started, by PID; kube-proxy --cleanup and the removal of
// every KUBE-* iptables chain; the unmount of everything mounted under Dir
// (pod volumes, container root filesystems, the pods' network namespaces);
// the bridge; the kernel settings Start changed. The logs (the pods' too,
// under LogDir/pods), the kubeconfig and the PKI stay in Dir, the rest of the
// state goes. Stop may be called more than once.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.stopProc("kubelet", 10*time.Second)
	// (On Ctrl-C in a terminal every child has the signal too: containerd
	// may be gone already, and the shims and cgroups below take over.)
	if p := c.proc("containerd"); p != nil && !exited(p) {
		c.killContainers(ctx)
	}
	c.stopProc("containerd", 10*time.Second)
	c.killShims()
	c.killCgroups()
	c.stopProc("kube-proxy", 5*time.Second)
	if c.nodeBins != "" {
		if out, err := exec.CommandContext(ctx, filepath.Join(c.nodeBins, "kube-proxy"), "--cleanup").CombinedOutput(); err != nil {
			c.step("kube-proxy --cleanup: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	cleanIptables()
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(10 * time.Second)
	}
	c.procs = nil
	c.unmountAll()
	c.removeNetns()
	if linkExists(BridgeName) {
		if err := run("ip", "link", "delete", BridgeName); err != nil {
			c.step("%v", err)
		}
	}
	if c.network {
		for path, old := range c.sysctls {
			_ = os.WriteFile(path, []byte(old), 0o644)
		}
		c.cleanHostDirs()
		_ = os.Remove(statePath)
		c.network = false
	}
	if c.dir != "" {
		for _, d := range []string{"containerd", "kubelet", "etcd", "cni"} {
			if err := os.RemoveAll(filepath.Join(c.dir, d)); err != nil {
				c.step("failed to remove %s: %v", d, err)
			}
		}
	}
	if c.lock != nil {
		_ = syscall.Flock(int(c.lock.Fd()), syscall.LOCK_UN)
		_ = c.lock.Close()
		c.lock = nil
	}
}

func exited(p *proc.Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

func (c *Cluster) stopProc(name string, grace time.Duration) {
	for i, p := range c.procs {
		if p.name == name {
			p.Stop(grace)
			c.procs = slices.Delete(c.procs, i, i+1)
			return
		}
	}
}

// killContainers kills every task (pod sandboxes and containers) of the CRI
// namespace through containerd, which deletes them once they exit; what is
// left after a few seconds is deleted by force.
func (c *Cluster) killContainers(ctx context.Context) {
	ids, err := c.ctr(ctx, "tasks", "list", "--quiet")
	if err != nil {
		return // containerd is going; killShims and killCgroups take over
	}
	for id := range strings.FieldsSeq(ids) {
		_, _ = c.ctr(ctx, "tasks", "kill", "--all", "--signal", "SIGKILL", id)
	}
	for range 50 {
		if ids, err = c.ctr(ctx, "tasks", "list", "--quiet"); err != nil || strings.TrimSpace(ids) == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id := range strings.FieldsSeq(ids) {
		_, _ = c.ctr(ctx, "tasks", "delete", "--force", id)
	}
}

// killShims kills the runc shims of this cluster's containerd that are still
// there (they outlive containerd), found by their -address argument.
func (c *Cluster) killShims() {
	for _, pid := range pidsWithArgs("-address", c.socket) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// killCgroups kills what is left in the pods' cgroups (kubelet's "kubepods"
// hierarchy, cgroupfs driver) and removes them.
func (c *Cluster) killCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	for range 3 {
		alive := false
		for _, root := range roots {
			_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
					return nil
				}
				data, _ := os.ReadFile(path)
				for f := range strings.FieldsSeq(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
						alive = true
					}
				}
				return nil
			})
		}
		if !alive {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}

// pidsWithArgs returns the processes whose command line has arg followed
// by value.
func pidsWithArgs(arg, value string) []int {
	if value == "" {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if (args[i] == arg || args[i] == "-"+arg) && args[i+1] == value {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// cleanIptables removes every KUBE-* chain kubelet and kube-proxy left, in
// every table, IPv4 and IPv6, and the rules that jump to them.
func cleanIptables() {
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.Command(bin+"-save", "-t", table).Output()
			if err != nil {
				continue
			}
			var chains []string
			for line := range strings.Lines(string(out)) {
				line = strings.TrimSpace(line)
				if name, ok := strings.CutPrefix(line, ":"); ok {
					if name, _, _ = strings.Cut(name, " "); strings.HasPrefix(name, "KUBE-") {
						chains = append(chains, name)
					}
					continue
				}
				args := splitArgs(line)
				if len(args) < 2 || args[0] != "-A" || strings.HasPrefix(args[1], "KUBE-") {
					continue
				}
				if i := slices.Index(args, "-j"); i > 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], "KUBE-") {
					_ = exec.Command(bin, append([]string{"-w", "-t", table, "-D"}, args[1:]...)...).Run()
				}
			}
			for _, ch := range chains {
				_ = exec.Command(bin, "-w", "-t", table, "-F", ch).Run()
			}
			for _, ch := range chains {
				_ = exec.Command(bin, "-w", "-t", table, "-X", ch).Run()
			}
		}
	}
}

// KubeChains returns the KUBE-* iptables chains of this machine (IPv4), so
// that a test can check that Stop left none.
func KubeChains() []string {
	var chains []string
	for _, table := range []string{"filter", "nat", "mangle", "raw"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(out)) {
			if name, ok := strings.CutPrefix(line, ":"); ok {
				if name, _, _ = strings.Cut(name, " "); strings.HasPrefix(name, "KUBE-") {
					chains = append(chains, table+"/"+name)
				}
			}
		}
	}
	return chains
}

// splitArgs splits an iptables-save rule into arguments, honouring its
// double quotes.
func splitArgs(line string) []string {
	var args []string
	var cur strings.Builder
	in, has := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && in && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			in, has = !in, true
		case ch == ' ' && !in:
			if cur.Len() > 0 || has {
				args = append(args, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if cur.Len() > 0 || has {
		args = append(args, cur.String())
	}
	return args
}

// unmountAll unmounts everything mounted under the cluster's folder,
// deepest first.
func (c *Cluster) unmountAll() {
	if c.dir == "" {
		return
	}
	for range 3 {
		mounts := MountsUnder(c.dir)
		if len(mounts) == 0 {
			return
		}
		for _, m := range mounts {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
}

// MountsUnder returns the mount points under dir, deepest first.
func MountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var mounts []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	return mounts
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

const netnsDir = "/var/run/netns"

// listNetns returns the cni-* network namespaces in /var/run/netns.
func listNetns() map[string]bool {
	names := map[string]bool{}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			names[e.Name()] = true
		}
	}
	return names
}

// NetnsLeft returns the cni-* network namespaces in /var/run/netns.
func NetnsLeft() []string {
	var names []string
	for n := range listNetns() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// removeNetns removes the cni-* network namespaces that appeared in
// /var/run/netns while the cluster ran (containerd keeps them under its
// state folder; this catches a configuration where it does not).
func (c *Cluster) removeNetns() {
	if c.netns == nil {
		return
	}
	for n := range listNetns() {
		if !c.netns[n] {
			p := filepath.Join(netnsDir, n)
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
			_ = os.Remove(p)
		}
	}
}

// Folders outside Dir that the node writes to whatever its configuration
// says: kubelet's links to the pods' logs and its device-plugin socket (fixed
// paths), libcni's result cache (go-cni's default, not configurable through
// containerd's CRI settings), and the shims' sockets (socket_dir: the path of
// a unix socket must stay short, so not under Dir).
const (
	containerLogLinks = "/var/log/containers"
	kubeletHostDir    = "/var/lib/kubelet"
	cniCacheDir       = "/var/lib/cni"
	cniResultsDir     = "/var/lib/cni/results"
	shimSocketDir     = "/run/mcp-handle-operator-cluster/s"
)

var hostDirs = []string{containerLogLinks, kubeletHostDir, cniCacheDir, filepath.Dir(shimSocketDir)}

// recordHostDirs notes which host folders exist, and the CNI results cached
// in them, before the cluster starts.
func (c *Cluster) recordHostDirs() {
	c.hostDirs = map[string]bool{}
	for _, d := range hostDirs {
		_, err := os.Stat(d)
		c.hostDirs[d] = err == nil
	}
	c.hostEntries = map[string]bool{}
	entries, _ := os.ReadDir(cniResultsDir)
	for _, e := range entries {
		c.hostEntries[filepath.Join(cniResultsDir, e.Name())] = true
	}
}

// cleanHostDirs removes what the cluster left in the host folders: the
// folders it created, or else its own entries in them.
func (c *Cluster) cleanHostDirs() {
	if c.hostDirs == nil || c.dir == "" {
		return
	}
	entries, _ := os.ReadDir(containerLogLinks)
	for _, e := range entries {
		p := filepath.Join(containerLogLinks, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, c.dir+"/") {
			_ = os.Remove(p)
		}
	}
	if !c.hostDirs[containerLogLinks] {
		_ = syscall.Rmdir(containerLogLinks) // only when empty
	}
	if c.hostDirs[kubeletHostDir] {
		_ = os.Remove(filepath.Join(kubeletHostDir, "device-plugins", "kubelet.sock"))
	} else {
		_ = os.RemoveAll(kubeletHostDir)
	}
	if c.hostDirs[cniCacheDir] {
		// New entries, and any of this cluster's network ("mcp-cluster-ID-eth0",
		// with its "cni-loopback-ID-lo") that a cluster which died left.
		entries, _ := os.ReadDir(cniResultsDir)
		ours := map[string]bool{}
		for _, e := range entries {
			if rest, ok := strings.CutPrefix(e.Name(), "mcp-cluster-"); ok {
				ours[strings.TrimSuffix(rest, "-eth0")] = true
			}
		}
		for _, e := range entries {
			p := filepath.Join(cniResultsDir, e.Name())
			id := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "cni-loopback-"), "-lo")
			if !c.hostEntries[p] || strings.HasPrefix(e.Name(), "mcp-cluster-") || ours[id] {
				_ = os.Remove(p)
			}
		}
	} else {
		_ = os.RemoveAll(cniCacheDir)
	}
	_ = os.RemoveAll(filepath.Dir(shimSocketDir))
	c.hostDirs = nil
}

// cleanLeftovers ends what a cluster whose process died without Stop left
// behind: its processes (by the PIDs it recorded, when they still run the
// recorded binary), its shims and pods, its mounts, its iptables chains and
// its bridge. Start holds the machine-wide lock, so no other cluster runs.
func (c *Cluster) cleanLeftovers() {
	killed := 0
	if c.prevDir != "" {
		data, _ := os.ReadFile(filepath.Join(c.prevDir, pidsFile))
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			pid, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			if cmd, err := os.ReadFile(filepath.Join("/proc", f[0], "cmdline")); err == nil {
				if bin, _, _ := strings.Cut(string(cmd), "\x00"); bin == f[1] {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					killed++
				}
			}
		}
		for _, pid := range pidsWithArgs("-address", filepath.Join(c.prevDir, "containerd", "containerd.sock")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed == 0 && !linkExists(BridgeName) {
		return
	}
	c.step("removing the leftovers of a cluster that was not stopped (%d processes, bridge %s, KUBE-* chains)", killed, BridgeName)
	time.Sleep(500 * time.Millisecond)
	c.killCgroups()
	if c.prevDir != "" {
		for _, m := range MountsUnder(c.prevDir) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	_ = exec.Command(filepath.Join(c.nodeBins, "kube-proxy"), "--cleanup").Run()
	cleanIptables()
	if linkExists(BridgeName) {
		_ = run("ip", "link", "delete", BridgeName)
	}
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// LinkExists reports whether the network interface name exists.
func LinkExists(name string) bool { return linkExists(name) }

func goarch() string { return runtime.GOARCH }
