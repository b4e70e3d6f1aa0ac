# Builds target\packages\Voxmark-<version>-x64.msi on Windows with the WiX Toolset 3 (candle, light on
# PATH) and Python (for ONNX Runtime's PyPI wheel). Run from anywhere: powershell -File packaging\windows\build.ps1
$ErrorActionPreference = "Stop"
$Repo = Resolve-Path "$PSScriptRoot\..\.."
Set-Location $Repo
$Version = (Select-String -Path Cargo.toml -Pattern '^version = "(.*)"' | Select-Object -First 1).Matches[0].Groups[1].Value
$OrtVersion = (Select-String -Path tools\requirements.txt -Pattern '^onnxruntime==(.*)').Matches[0].Groups[1].Value

cargo build --profile dist --bin voxmark
if ($LASTEXITCODE -ne 0) { throw "cargo build failed" }

$Work = "target\packaging\windows"
$Ort = "$Work\onnxruntime"
New-Item -ItemType Directory -Force "$Work\wheel", $Ort, "target\packages" | Out-Null
python -m pip download -q --no-deps --only-binary=:all: -d "$Work\wheel" "onnxruntime==$OrtVersion"
if ($LASTEXITCODE -ne 0) { throw "pip download onnxruntime==$OrtVersion failed" }
$Wheel = Get-ChildItem "$Work\wheel\onnxruntime-$OrtVersion-*.whl" | Select-Object -First 1
Add-Type -AssemblyName System.IO.Compression.FileSystem
$Zip = [System.IO.Compression.ZipFile]::OpenRead($Wheel.FullName)
foreach ($e in $Zip.Entries) {
  if ($e.FullName -eq "onnxruntime/capi/onnxruntime.dll" -or $e.FullName -eq "onnxruntime/LICENSE" -or $e.FullName -eq "onnxruntime/ThirdPartyNotices.txt") {
    [System.IO.Compression.ZipFileExtensions]::ExtractToFile($e, "$Ort\$($e.Name)", $true)
  }
}
$Zip.Dispose()

candle -nologo -arch x64 -dVersion="$Version" -dBinDir="target\dist" -dOrtDir="$Ort" -dRepoDir="$Repo" `
  -out "$Work\main.wixobj" packaging\windows\main.wxs
if ($LASTEXITCODE -ne 0) { throw "candle failed" }
light -nologo -out "target\packages\Voxmark-$Version-x64.msi" "$Work\main.wixobj"
if ($LASTEXITCODE -ne 0) { throw "light failed" }
Get-Item "target\packages\Voxmark-$Version-x64.msi" | Select-Object Name, Length
