// Command pause is the pod sandbox ("pause") image of the test cluster
// (test/framework/cluster): it holds a pod's namespaces and does nothing else
// until it is asked to stop. Being PID 1 of the pod, it also reaps the
// zombies a container of a pod sharing its process namespace leaves behind.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-children:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
