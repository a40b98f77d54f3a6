//go:build linux

package alsa

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's PCM interface (include/uapi/sound/asound.h). Structures use
// Go's uint/int where the kernel uses unsigned long/long, so sizes and the
// ioctl numbers that encode them are right on 32- and 64-bit targets.

const (
	accessRWInterleaved = 3 // SNDRV_PCM_ACCESS_RW_INTERLEAVED
	formatS16LE         = 2 // SNDRV_PCM_FORMAT_S16_LE
	subformatStd        = 0

	paramAccess    = 0 // masks
	paramFormat    = 1
	paramSubformat = 2

	paramSampleBits = 8 // intervals, numbered from 8
	paramChannels   = 10
	paramRate       = 11
	paramPeriodSize = 13
	paramPeriods    = 15
	paramBufferSize = 17

	intervalInteger = 1 << 2 // snd_interval bit-field: openmin, openmax, integer, empty
)

type mask [8]uint32

type interval struct{ min, max, flags uint32 }

type hwParams struct {
	flags     uint32
	masks     [3]mask
	mres      [5]mask
	intervals [12]interval
	ires      [9]interval
	rmask     uint32
	cmask     uint32
	info      uint32
	msbits    uint32
	rateNum   uint32
	rateDen   uint32
	fifoSize  uint
	reserved  [64]byte
}

type xferi struct {
	result int
	buf    unsafe.Pointer
	frames uint
}

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'A'<<8 | nr }

var (
	ioctlHwRefine = ioc(3, 0x10, unsafe.Sizeof(hwParams{}))
	ioctlHwParams = ioc(3, 0x11, unsafe.Sizeof(hwParams{}))
	ioctlHwFree   = ioc(0, 0x12, 0)
	ioctlDelay    = ioc(2, 0x21, unsafe.Sizeof(int(0)))
	ioctlPrepare  = ioc(0, 0x40, 0)
	ioctlStart    = ioc(0, 0x42, 0)
	ioctlDrop     = ioc(0, 0x43, 0)
	ioctlResume   = ioc(0, 0x47, 0)
	ioctlWriteI   = ioc(1, 0x50, unsafe.Sizeof(xferi{}))
	ioctlReadI    = ioc(2, 0x51, unsafe.Sizeof(xferi{}))
)

// anyParams is snd_pcm_hw_params_any: everything allowed.
func anyParams() *hwParams {
	p := &hwParams{rmask: ^uint32(0)}
	for i := range p.masks {
		for j := range p.masks[i] {
			p.masks[i][j] = ^uint32(0)
		}
	}
	for i := range p.intervals {
		p.intervals[i] = interval{min: 0, max: ^uint32(0)}
	}
	return p
}

func (p *hwParams) setMask(param, bit int) {
	p.masks[param] = mask{}
	p.masks[param][bit/32] = 1 << (bit % 32)
}

func (p *hwParams) setInterval(param int, lo, hi uint32) {
	p.intervals[param-paramSampleBits] = interval{min: lo, max: hi, flags: intervalInteger}
}

func (p *hwParams) get(param int) (lo, hi uint32) {
	iv := p.intervals[param-paramSampleBits]
	return iv.min, iv.max
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// xfer reads or writes frames interleaved frames of buf; it returns how many
// frames moved.
func xfer(fd int, req uintptr, buf []int16, frames int) (int, error) {
	x := xferi{buf: unsafe.Pointer(&buf[0]), frames: uint(frames)}
	err := ioctl(fd, req, unsafe.Pointer(&x))
	runtime.KeepAlive(buf)
	if err != nil {
		return 0, err
	}
	return x.result, nil
}
